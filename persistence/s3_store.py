"""The S3 object store (AWS, MinIO, moto): boto3 uploads that hash what they send, streamed reads."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from persistence.object_core import (
    CHUNK,
    MULTIPART,
    Data,
    ObjectNotFound,
    StoredObject,
    _chunks,
    _Stream,
    validate_key,
)


class _HashingReader:
    """A read-only, non-seekable view of `data` that hashes and counts what is read.

    Non-seekable on purpose: boto3's transfer manager then reads it once, in order, so the hash
    is of exactly the bytes uploaded (a seekable file may be re-read on retries).
    """

    def __init__(self, data: Data):
        self._it = _chunks(data)
        self._buf = b""
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._it, None)
            if chunk is None:
                break
            self._buf += bytes(chunk)
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        self.hash.update(out)
        self.size += len(out)
        return out


class S3Store:
    """Objects in an S3 bucket (AWS, MinIO, moto) under an optional prefix.

    Uploads go through boto3's transfer manager: multipart above `MULTIPART` bytes. The bucket is
    created on first write if it is missing (`ensure_bucket`).
    """

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: Optional[str] = None, *, client: Any = None):
        import boto3
        from boto3.s3.transfer import TransferConfig

        if not bucket:
            raise ValueError("S3Store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.endpoint_url = endpoint_url
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)
        self._transfer = TransferConfig(multipart_threshold=MULTIPART, multipart_chunksize=MULTIPART)
        self._bucket_ok = False

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, {self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def key_from_uri(self, uri: str) -> str:
        head = f"s3://{self.bucket}/" + (f"{self.prefix}/" if self.prefix else "")
        if not uri.startswith(head):
            raise ValueError(f"{uri!r} is not in this store ({head})")
        return validate_key(uri[len(head) :])

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent)."""
        from botocore.exceptions import ClientError

        if self._bucket_ok:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not self._missing(exc):
                raise
            region = self.client.meta.region_name
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                self.client.create_bucket(**kwargs)
            except ClientError as exc2:
                if exc2.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",):
                    raise
        self._bucket_ok = True

    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> StoredObject:
        full = self._key(key)
        self.ensure_bucket()
        reader = _HashingReader(data)
        self.client.upload_fileobj(
            reader, self.bucket, full, ExtraArgs={"ContentType": content_type}, Config=self._transfer
        )
        return StoredObject(uri=f"s3://{self.bucket}/{full}", size=reader.size, sha256=reader.hash.hexdigest())

    def _get_object(self, key: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                raise ObjectNotFound(key) from None
            raise

    def get(self, key: str) -> bytes:
        body = self._get_object(key)["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def open(self, key: str, chunk_size: int = CHUNK) -> _Stream:
        body = self._get_object(key)["Body"]
        return _Stream(body.iter_chunks(chunk_size), body.close)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

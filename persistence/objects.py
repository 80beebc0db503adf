"""The object store: checkpoints, figures and data files, by key, on a local directory or S3.

`make_store(settings)` picks the backend from `settings.object_store_url`:
`file:///abs/path` gives a `LocalStore`, `s3://bucket[/prefix]` an `S3Store` (endpoint from
`settings.s3_endpoint_url`, credentials from the standard AWS environment variables).

Keys are relative paths made of `[A-Za-z0-9._/-]`: no absolute paths, no `..`, no backslashes,
no empty segments. Anything else raises `ValueError`, so a key built from user input cannot
leave the store. `put` computes the SHA-256 while it writes, and returns it with the size and URI.
A missing key raises `ObjectNotFound` from `get` and `open`; `delete` of a missing key is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Optional, Protocol, Union
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:  # pragma: no cover
    from persistence.settings import Settings

CHUNK = 1 << 20  # 1 MiB: read/write/stream granularity
MULTIPART = 8 << 20  # S3 multipart threshold and part size
MAX_KEY = 1024  # S3's limit, in bytes
_KEY_RE = re.compile(r"^[A-Za-z0-9._/-]+$")

Data = Union[bytes, bytearray, memoryview, IO[bytes]]


class ObjectNotFound(LookupError):
    """No object under that key."""


@dataclass(frozen=True)
class StoredObject:
    uri: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> StoredObject: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str) -> str: ...
    def key_from_uri(self, uri: str) -> str: ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise ValueError naming it."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    if len(key.encode()) > MAX_KEY:
        raise ValueError(f"object key is longer than {MAX_KEY} bytes: {key[:60]!r}...")
    if "\\" in key:
        raise ValueError(f"object key must not contain backslashes: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"object key must be relative, got absolute {key!r}")
    if ".." in key:
        raise ValueError(f"object key must not contain '..': {key!r}")
    if not _KEY_RE.match(key):
        raise ValueError(f"object key may only use [A-Za-z0-9._/-], got {key!r}")
    if any(part in ("", ".") for part in key.split("/")):
        raise ValueError(f"object key has an empty or '.' segment: {key!r}")
    return key


def _chunks(data: Data, chunk_size: int = CHUNK) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for i in range(0, len(view), chunk_size):
            yield view[i : i + chunk_size]
        return
    if not hasattr(data, "read"):
        raise TypeError(f"put() takes bytes or a binary file-like object, got {type(data).__name__}")
    while True:
        chunk = data.read(chunk_size)
        if not chunk:
            return
        if isinstance(chunk, str):
            raise TypeError("put() needs a binary file (opened with 'rb'), got text")
        yield chunk


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


class _Stream:
    """An iterator of chunks that also closes its source (use it in `with`, or exhaust it)."""

    def __init__(self, chunks: Iterator[bytes], close: Any):
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> "_Stream":
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> "_Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalStore:
    """Objects as files under `root`; writes are atomic (temp file in the same folder + os.replace).

    The content type is not kept (the artifacts table keeps it).
    """

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key {key!r} resolves outside the store root {self.root}")
        return resolved

    def uri(self, key: str) -> str:
        return (self.root / validate_key(key)).as_uri()

    def key_from_uri(self, uri: str) -> str:
        parsed = urlparse(uri)
        path = Path(unquote(parsed.path))
        if parsed.scheme != "file" or not path.is_relative_to(self.root):
            raise ValueError(f"{uri!r} is not in this store ({self.root.as_uri()})")
        return validate_key(path.relative_to(self.root).as_posix())

    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(data):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return StoredObject(uri=path.as_uri(), size=size, sha256=digest.hexdigest())

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def open(self, key: str, chunk_size: int = CHUNK) -> _Stream:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by _Stream
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return _Stream(iter(lambda: f.read(chunk_size), b""), f.close)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass


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


def store_from_url(url: str, *, s3_endpoint_url: Optional[str] = None) -> Union[LocalStore, S3Store]:
    """`file:///abs/path` → LocalStore; `s3://bucket[/prefix]` → S3Store."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"object store URL must be file:///absolute/path, got {url!r}")
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise ValueError(f"object store URL must be file:///absolute/path, got {url!r}")
        return LocalStore(path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"object store URL must be s3://bucket[/prefix], got {url!r}")
        return S3Store(parsed.netloc, unquote(parsed.path), endpoint_url=s3_endpoint_url)
    raise ValueError(f"object store URL must be file:///path or s3://bucket[/prefix], got {url!r}")


def make_store(settings: "Settings") -> Union[LocalStore, S3Store]:
    """The object store the settings name (`SKIPCORE_OBJECT_STORE_URL`, `SKIPCORE_S3_ENDPOINT_URL`)."""
    return store_from_url(str(settings.object_store_url), s3_endpoint_url=settings.s3_endpoint_url)


__all__ = [
    "LocalStore",
    "ObjectNotFound",
    "ObjectStore",
    "S3Store",
    "StoredObject",
    "make_store",
    "store_from_url",
    "validate_key",
]

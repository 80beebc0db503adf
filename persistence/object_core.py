"""What both object stores share: key validation, `StoredObject`, the `ObjectStore` protocol,
`ObjectNotFound`, and the chunking of what is written and read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any, Iterator, Protocol, Union

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

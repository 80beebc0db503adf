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

from typing import TYPE_CHECKING, Optional, Union
from urllib.parse import unquote, urlparse

from persistence.local_store import LocalStore
from persistence.object_core import (  # re-exported: this module stays the public import path
    CHUNK,
    MAX_KEY,
    MULTIPART,
    Data,
    ObjectNotFound,
    ObjectStore,
    StoredObject,
    validate_key,
)
from persistence.s3_store import S3Store

if TYPE_CHECKING:  # pragma: no cover
    from persistence.settings import Settings


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

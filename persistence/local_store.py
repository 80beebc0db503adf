"""The local-directory object store: one file per key under a root, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Union
from urllib.parse import unquote, urlparse

from persistence.object_core import CHUNK, Data, ObjectNotFound, StoredObject, _chunks, _Stream, validate_key


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

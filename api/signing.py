"""Short-lived signed download URLs (HMAC-SHA256 over path and expiry)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote


def sign(key: bytes, path: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(key: bytes, path: str, ttl: int) -> str:
    expires = int(time.time()) + ttl
    return f"{quote(path)}?expires={expires}&sig={sign(key, path, expires)}"


def verify(key: bytes, path: str, expires: int, sig: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(sign(key, path, expires), sig)

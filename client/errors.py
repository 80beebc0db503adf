"""The client's errors: an API error answer, and a downloaded artifact whose checksum differs."""

from __future__ import annotations

from typing import Any, Optional

import httpx


class ApiError(Exception):
    """An error answer: `status` is the HTTP status, `detail` the server's `detail` (a string, or
    a list of field errors for a 422), `message` one readable line."""

    def __init__(self, status: int, detail: Any, message: Optional[str] = None) -> None:
        self.status, self.detail = status, detail
        if message is None:
            if isinstance(detail, list):
                message = "; ".join(f"{e.get('field', '?')}: {e.get('message', e)}" if isinstance(e, dict) else str(e)
                                    for e in detail)
            else:
                message = str(detail)
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class ChecksumError(Exception):
    """A downloaded artifact's sha256 differs from the one the server listed."""


def check(r: httpx.Response) -> None:
    """Raise `ApiError` for a 4xx/5xx answer, with the server's `detail` (and `message`) when it sent JSON."""
    if r.status_code < 400:
        return
    try:
        body = r.json()
    except ValueError:
        raise ApiError(r.status_code, r.text or r.reason_phrase) from None
    if isinstance(body, dict):
        raise ApiError(r.status_code, body.get("detail", body), body.get("message"))
    raise ApiError(r.status_code, body)


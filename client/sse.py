"""Parsing a Server-Sent Events stream into `Event`s (and the server's `retry:` hints)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional

from client.models import Event


def sse_fields(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Parse an event stream: yields ("retry", ms) and ("event", Event) at each blank line."""
    eid: Optional[str] = None
    kind, data = "message", []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = text
                yield "event", Event(eid, kind, payload)
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue  # comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            eid = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "retry" and value.isdigit():
            yield "retry", int(value)

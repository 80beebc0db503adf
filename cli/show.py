"""How the client commands write things: ETA, counts, where a run is, short ids and params.
One way each, so `status`, `list` and `watch` print the same thing the same way."""

from __future__ import annotations

from typing import Any, Optional

SHORT = 8  # characters of an id in tables; the commands accept them back (a unique prefix)


def eta(seconds: Optional[float], status: str = "running") -> str:
    """`42s`, `3m05s`, `2h07m`; `-` when unknown or the run is not running (a finished run has no ETA)."""
    if seconds is None or status not in ("running", "queued") or seconds < 0:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def stage(status: str, epoch: int, epochs: int, phase: Optional[str] = None, probes: bool = False) -> str:
    """`12/60` while training; once a running run has done its epochs, what it does then
    (`probes`, or the server's own phase) instead of a bar that sits at 60/60."""
    if status == "running" and epochs and epoch >= epochs:
        return phase or ("probes" if probes else "finishing")
    if status == "running" and phase and phase != "train":
        return phase
    return f"{epoch}/{epochs}" if epochs else "-"


def short(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def when(iso: Optional[str]) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM` (UTC)."""
    return iso[:16].replace("T", " ") if iso else "-"

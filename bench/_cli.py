"""The bench scripts' command lines, declared by their defaults (no torch import: the HTTP benches use it)."""

from __future__ import annotations

import argparse
from typing import Any


def options(**defaults: Any) -> argparse.Namespace:
    """Parse `--name value` options, one per keyword (`cnn_steps` is `--cnn-steps`), typed by the
    default; a default False is a flag; `(default, help)` adds a help text."""
    ap = argparse.ArgumentParser()
    for name, default in defaults.items():
        default, help_ = default if isinstance(default, tuple) else (default, None)
        flag = "--" + name.replace("_", "-")
        if default is False:
            ap.add_argument(flag, action="store_true", help=help_)
        else:
            ap.add_argument(flag, type=type(default), default=default, help=help_)
    return ap.parse_args()

"""`--serve`: start `skipcore serve` on a free port with a temporary SKIPCORE_HOME (or the `home` given,
which is kept: its database and artefacts let `--reuse` judge the same runs again), yield its URL,
and stop it (the whole process group) afterwards (`servicekit.embedded`)."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import servicekit


@contextmanager
def embedded(concurrency: int = 1, keep: bool = False, ensemble_on_cpu: bool = False,
             home: Optional[Path] = None) -> Iterator[str]:
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        home = Path(tempfile.mkdtemp(prefix="skipcore-reproduce-"))
    try:
        with servicekit.embedded(home, concurrency=concurrency, timeout=120,
                                 worker_concurrency=str(concurrency),
                                 ensemble_on_cpu=str(ensemble_on_cpu).lower()) as url:
            yield url
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)

"""`skipcore worker` on GPUs: start one Celery worker per planned child and keep them together.

Each child runs in a session of its own and gets SIGTERM if this process dies (even by SIGKILL).
SIGTERM, SIGINT or SIGHUP here stops every child (Celery's warm shutdown: running tasks finish
their current step and are sent back, pool processes exit), then SIGKILL for what is left after
the timeout. If one child exits by itself the others are stopped too and its exit code is ours, so
a process supervisor (systemd, Kubernetes) restarts the whole set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

STOP_TIMEOUT = 30.0


def supervise(children: Sequence[tuple[list[str], dict[str, str], Any]], before_exec: Callable[[], None],
              poll: float = 0.5) -> int:
    """Start `(argv, env, spec)` children, wait until a signal or a child's exit, stop them all;
    returns the exit code."""
    procs: list[subprocess.Popen] = []
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    code = 0
    try:
        for argv, env, spec in children:
            procs.append(subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=before_exec))
            print(f"skipcore worker: pid {procs[-1].pid} on GPU {spec.gpu} (CUDA_VISIBLE_DEVICES={spec.gpu}), "
                  f"{spec.concurrency} process(es), {spec.threads} torch thread(s) each", file=sys.stderr, flush=True)
        while True:
            ended = [p for p in procs if p.poll() is not None]
            if ended:
                code = ended[0].returncode or 0
                print(f"skipcore worker: pid {ended[0].pid} exited with {ended[0].returncode}; stopping the others",
                      file=sys.stderr, flush=True)
                break
            time.sleep(poll)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        stop_all(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def stop_all(procs: Sequence[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to every child at once, wait for them (one shared deadline), then SIGKILL to the
    process group (the child's own session: its pool) of each."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)

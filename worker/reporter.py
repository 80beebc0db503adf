"""DbReporter: the training loop's three hooks, backed by the database and the object store.

Metric points and layer statistics are buffered and written in batches (one transaction per
flush, at most every `metric_flush_seconds`), never one insert per point. A heartbeat thread
renews the run's lease and turns a cancel request (or a lost lease) into `should_stop()`.

Checkpoints come at the spec's `checkpoint_every` epochs, at least `checkpoint_min_seconds` (5 s)
apart and not before that long into the run; the last epoch's and a stopping run's are always
stored. Only a run's latest checkpoint is kept, to resume it bit-identically from any epoch, so the
floor costs a killed run at most those seconds of training again and nothing else; at full batch,
where an epoch is a single step, `checkpoint_every: 10` would otherwise store one every few tenths
of a second, each costing the training thread its serialisation and the store's Python work.

A checkpoint is serialised on the training thread and stored on a thread of its own: that thread
first writes the points buffered up to it, then stores and records the checkpoint's bytes, so the
training thread waits for none of that I/O. While it is in flight the training thread writes
nothing (its points stay buffered until the next flush), so one run's writes keep their order:
points, progress and events never overtake an earlier flush.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Optional

from persistence.db import session_scope
from persistence.repo import artifacts as artifact_repo
from persistence.repo import events
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo
from worker.context import WorkerContext
from worker.retry import in_session

log = logging.getLogger("skipcore.worker")
MAX_BUFFER = 20_000
CHECKPOINT_NAME = "checkpoint.pt"


class DbReporter:
    def __init__(self, ctx: WorkerContext, run_id: str, epochs: int) -> None:
        self.ctx, self.run_id, self.epochs = ctx, run_id, epochs
        self.points: list[tuple[str, int, float, float]] = []
        self.layers: list[tuple[str, int, list[float]]] = []
        self.epoch = 0
        self.eta: Optional[float] = None
        self._epoch_times: deque[float] = deque(maxlen=10)
        self._last_tick: Optional[float] = None
        self._last_flush = time.monotonic()
        self._stop: Optional[str] = None
        self._beat = threading.Event()
        self._ckpt_thread: Optional[threading.Thread] = None
        self._ckpt_error: Optional[BaseException] = None
        self._last_checkpoint = time.monotonic()  # the run's start counts as one for the floor
        self.checkpoints_skipped = 0
        self._thread = threading.Thread(target=self._heartbeat, name=f"heartbeat-{run_id}", daemon=True)
        self._thread.start()

    # -- the loop's hooks -------------------------------------------------------------------
    def metrics(self, epoch: int, scalars: dict[str, float], layers: dict[str, list[float]]) -> None:
        now_wall, now = time.time(), time.monotonic()
        self.points.extend((k, epoch, float(v), now_wall) for k, v in scalars.items())
        self.layers.extend((name, epoch, [float(x) for x in values]) for name, values in layers.items())
        if epoch > self.epoch:
            if self._last_tick is not None and epoch > 0:
                self._epoch_times.append((now - self._last_tick) / max(1, epoch - self.epoch))
            self._last_tick = now
            self.epoch = epoch
        if self._epoch_times:
            avg = sum(self._epoch_times) / len(self._epoch_times)
            self.eta = max(0.0, (self.epochs - self.epoch) * avg)
        due = now - self._last_flush >= self.ctx.settings.metric_flush_seconds and not self._checkpoint_in_flight()
        if due or len(self.points) >= MAX_BUFFER:
            self.flush()

    def checkpoint(self, epoch: int, state: dict) -> None:
        """Serialise the state here, on the training thread (5-12 ms for a depth-50 MLP with Adam);
        then, on a background thread, write the points buffered so far (they are durable before
        the checkpoint is), store the bytes and record them while training goes on. At most one
        in flight (the next checkpoint, `flush`, `wait_checkpoint` and `close` wait for it).

        Serialising is Python work under the GIL: done on the background thread it made the
        training thread wait for the GIL at every switch, and a step beside it took several times
        as long, so it cost the training thread more than doing it here. Storing (file writes,
        fsync, hashing, the database) mostly waits on I/O without the GIL, so it stays off."""
        from skipcore.train import checkpoint as ckpt

        now = time.monotonic()
        last = epoch >= self.epochs or self._stop is not None
        if not last and now - self._last_checkpoint < self.ctx.settings.checkpoint_min_seconds:
            self.checkpoints_skipped += 1  # too soon after the previous one (see the module docstring)
            return
        self._last_checkpoint = now
        self.wait_checkpoint()
        blob = ckpt.save(state)
        pending = self._take()
        self._ckpt_thread = threading.Thread(target=self._store_checkpoint, args=(epoch, blob, pending),
                                             name=f"checkpoint-{self.run_id}", daemon=True)
        self._ckpt_thread.start()

    def _checkpoint_in_flight(self) -> bool:
        return self._ckpt_thread is not None and self._ckpt_thread.is_alive()

    def _join_checkpoint(self) -> None:
        """Wait for the checkpoint in flight (its error, if any, is kept for `wait_checkpoint`)."""
        if self._ckpt_thread is not None:
            self._ckpt_thread.join()
            self._ckpt_thread = None

    def wait_checkpoint(self) -> None:
        """Block until the last checkpoint is stored; raise its error if storing it failed."""
        self._join_checkpoint()
        if self._ckpt_error is not None:
            err, self._ckpt_error = self._ckpt_error, None
            raise err

    def _store_checkpoint(self, epoch: int, blob: bytes, pending: tuple) -> None:
        try:
            self._write(*pending)
            key = f"runs/{self.run_id}/{CHECKPOINT_NAME}"
            stored = self.ctx.store.put(key, blob, content_type="application/octet-stream")

            def write(s) -> None:
                artifact_repo.record(s, run_id=self.run_id, name=CHECKPOINT_NAME, kind="checkpoint",
                                     size=stored.size, sha256=stored.sha256, uri=key)
                run_repo.set_checkpoint(s, self.run_id, epoch, key)

            in_session(self.ctx.sessions, write)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the training thread
            self._ckpt_error = exc

    def should_stop(self) -> Optional[str]:
        return self._stop

    # -- plumbing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write what is buffered now, after the checkpoint in flight (and the points it carries)."""
        self._join_checkpoint()
        self._write(*self._take())

    def _take(self) -> tuple:
        """The buffered points and layer statistics with the progress to report, handed to a writer."""
        taken = (self.points, self.layers, self.epoch, self.eta)
        self.points, self.layers = [], []
        self._last_flush = time.monotonic()
        return taken

    def _write(self, points: list, layers: list, epoch: int, eta: Optional[float]) -> None:
        def write(s) -> bool:
            if points:
                metrics_repo.upsert_points(s, self.run_id, points)
            if layers:
                metrics_repo.upsert_layer_stats(s, self.run_id, layers)
            cancel = run_repo.progress(s, self.run_id, epoch=epoch, epochs=self.epochs, eta_seconds=eta,
                                       worker=self.ctx.worker_id)
            events.append_metrics(s, self.run_id, points)  # which steps: the stream reads the points
            return cancel

        cancel = in_session(self.ctx.sessions, write)
        if cancel and self._stop is None:
            self._stop = "cancelled"

    def _heartbeat(self) -> None:
        interval = self.ctx.settings.heartbeat_seconds
        while not self._beat.wait(interval):
            try:
                with session_scope(self.ctx.sessions) as s:
                    cancel = run_repo.heartbeat(s, self.run_id, self.ctx.worker_id)
            except Exception:  # noqa: BLE001 - database down: keep training, try again
                log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
                continue
            if cancel is None:
                self._stop = "lease lost: another worker owns this run now"
            elif cancel:
                self._stop = "cancelled"

    def close(self) -> None:
        self._beat.set()
        self._thread.join(timeout=5)
        self._join_checkpoint()
        if self._ckpt_error is not None:
            log.error("run %s: storing a checkpoint failed: %r", self.run_id, self._ckpt_error)


def record_any(ctx: WorkerContext, run_id: str, name: str, kind: str, blob: bytes, content_type: str) -> Any:
    key = f"runs/{run_id}/{name}"
    stored = ctx.store.put(key, blob, content_type=content_type)

    in_session(ctx.sessions, lambda s: artifact_repo.record(s, run_id=run_id, name=name, kind=kind, size=stored.size,
                                                            sha256=stored.sha256, uri=key, content_type=content_type))
    return stored

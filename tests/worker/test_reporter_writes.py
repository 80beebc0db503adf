"""DbReporter on a real SQLite database and local store: a checkpoint's writes (the points buffered
up to it, then the checkpoint itself) happen on its own thread, not the training thread, and one
run's writes keep their order while it is in flight."""

from __future__ import annotations

import threading
import time

import torch
from sqlalchemy import event

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Run
from persistence.objects import make_store
from persistence.repo import experiments as exp_repo
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo
from persistence.schema import upgrade
from skipcore.train import checkpoint as ckpt
from tests.factories import make_settings, make_spec
from worker.context import WorkerContext
from worker.reporter import DbReporter


def _reporter(home, **settings):
    settings = {"checkpoint_min_seconds": 0, **settings}
    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}", metric_flush_seconds=3600, **settings)
    upgrade(str(settings.database_url))
    engine = make_engine(str(settings.database_url))
    ctx = WorkerContext(settings, engine, make_sessionmaker(engine), make_store(settings), "test-worker")
    spec = make_spec()
    with session_scope(ctx.sessions) as s:
        run_id = exp_repo.create(s, name="writes", spec=spec, runs=[(0, {}, spec)], owner="local").runs[0].id
        assert run_repo.claim(s, run_id, ctx.worker_id, lease_seconds=60, max_attempts=3).reason == "claimed"
    writes: list[tuple[str, str]] = []  # (thread, statement) of every write, in the order they ran

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            writes.append((threading.current_thread().name, statement.split("(")[0].strip()))

    return ctx, run_id, DbReporter(ctx, run_id, epochs=4), writes


def _state(epoch: int) -> dict:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    return ckpt.capture(net, opt, epoch=epoch, phase=None, generator=torch.Generator(), loop={"steps": epoch})


def test_a_checkpoint_writes_its_points_and_itself_off_the_training_thread(home):
    ctx, run_id, rep, writes = _reporter(home)
    try:
        for epoch in (1, 2):
            rep.metrics(epoch, {"train_loss": 1.0 / epoch}, {"weight_mean_abs": [0.1 * epoch, 0.2]})
        main = threading.current_thread().name
        rep.checkpoint(2, _state(2))
        rep.metrics(3, {"train_loss": 0.3}, {"weight_mean_abs": [0.3, 0.2]})  # buffered: no flush is due
        rep.wait_checkpoint()
        on_training_thread = [w for w in writes if w[0] == main]
        assert on_training_thread == [], on_training_thread  # the old reporter flushed here first
        assert {t for t, _ in writes} == {f"checkpoint-{run_id}"}
        with session_scope(ctx.sessions) as s:
            run = s.get(Run, run_id)
            assert (run.checkpoint_epoch, run.epoch) == (2, 2)
            steps = [p[0] for p in metrics_repo.history(s, run_id, "train_loss")[0]]
        assert steps == [1, 2]  # epoch 3 is still buffered: it is written by the next flush, after these
        # the points up to the checkpoint were written before it was recorded
        # (the points themselves go through the driver's bulk path, which these events do not see)
        first_checkpoint_write = next(i for i, (_, st) in enumerate(writes) if "INTO artifacts" in st)
        assert any("INTO layer_stats" in st for _, st in writes[:first_checkpoint_write])
        assert any("SET epoch=" in st for _, st in writes[:first_checkpoint_write])
        rep.flush()
        with session_scope(ctx.sessions) as s:
            assert [p[0] for p in metrics_repo.history(s, run_id, "train_loss")[0]] == [1, 2, 3]
            assert s.get(Run, run_id).epoch == 3
    finally:
        rep.close()


def test_a_flush_waits_for_the_checkpoint_in_flight_so_writes_stay_in_order(home):
    ctx, run_id, rep, writes = _reporter(home)
    try:
        rep.metrics(1, {"train_loss": 1.0}, {})
        rep.checkpoint(1, _state(1))
        rep.metrics(2, {"train_loss": 0.5}, {})
        rep.flush()  # joins the checkpoint thread first
        threads = [t for t, _ in writes]
        last_ckpt = max(i for i, t in enumerate(threads) if t == f"checkpoint-{run_id}")
        assert all(t == threading.current_thread().name for t in threads[last_ckpt + 1:])
        assert threads[last_ckpt + 1:], "the flush after the checkpoint wrote nothing"
        with session_scope(ctx.sessions) as s:
            assert [p[0] for p in metrics_repo.history(s, run_id, "train_loss")[0]] == [1, 2]
            assert s.get(Run, run_id).epoch == 2
    finally:
        rep.close()


def test_a_checkpoint_is_serialised_on_the_training_thread_and_stored_as_it_was(home, monkeypatch):
    """Serialising (Python work under the GIL) happens in `checkpoint` itself: on a thread of its
    own it made each training step beside it wait for the GIL. What is stored is the state as it
    was then, whatever training does to the tensors afterwards."""
    ctx, run_id, rep, _ = _reporter(home)
    threads: list[str] = []
    save = ckpt.save

    def seen(state):
        threads.append(threading.current_thread().name)
        return save(state)

    monkeypatch.setattr(ckpt, "save", seen)
    try:
        state = _state(2)
        weight = state["model"]["weight"]
        expected = weight.clone()
        rep.checkpoint(2, state)
        weight.add_(1.0)  # the next step changes the live tensors
        rep.wait_checkpoint()
    finally:
        rep.close()
    assert threads == [threading.current_thread().name]
    with session_scope(ctx.sessions) as s:
        uri = run_repo.get(s, run_id).checkpoint_uri
    stored = ckpt.load(ctx.store.get(uri))
    assert torch.equal(stored["model"]["weight"], expected)


def _stored_epoch(ctx, run_id):
    with session_scope(ctx.sessions) as s:
        return run_repo.get(s, run_id).checkpoint_epoch


def test_checkpoints_keep_the_time_floor_but_the_last_epoch_and_a_stop_are_always_stored(home, monkeypatch):
    """`checkpoint_min_seconds`: a checkpoint due sooner than that after the run's start (or the
    previous one) is neither serialised nor stored; the last epoch's always is, and so is a
    stopping run's."""
    ctx, run_id, rep, _ = _reporter(home, checkpoint_min_seconds=3600)
    saved: list[int] = []
    save = ckpt.save
    monkeypatch.setattr(ckpt, "save", lambda state: saved.append(state["epoch"]) or save(state))
    try:
        for epoch in (1, 2, 3):
            rep.metrics(epoch, {"train_loss": 1.0 / epoch}, {})
            rep.checkpoint(epoch, _state(epoch))
        rep.wait_checkpoint()
        assert saved == [] and rep.checkpoints_skipped == 3 and _stored_epoch(ctx, run_id) is None
        with session_scope(ctx.sessions) as s:  # the run is cancelled: the next flush reads it
            assert exp_repo.request_cancel_run(s, run_repo.get(s, run_id))
        rep.flush()
        assert rep.should_stop() == "cancelled"
        rep.checkpoint(3, _state(3))
        rep.wait_checkpoint()
        assert saved == [3] and _stored_epoch(ctx, run_id) == 3
    finally:
        rep.close()

    ctx, run_id, rep, _ = _reporter(home / "last", checkpoint_min_seconds=3600)
    saved.clear()
    try:
        rep.checkpoint(2, _state(2))
        rep.checkpoint(4, _state(4))  # the reporter's run has 4 epochs: the last
        rep.wait_checkpoint()
        assert saved == [4] and _stored_epoch(ctx, run_id) == 4
    finally:
        rep.close()


def test_a_checkpoint_due_after_the_floor_is_stored(home, monkeypatch):
    floor = 0.2
    ctx, run_id, rep, _ = _reporter(home, checkpoint_min_seconds=floor)
    try:
        start = time.monotonic()
        rep.checkpoint(1, _state(1))
        assert rep.checkpoints_skipped == 1
        while time.monotonic() - start < floor:  # the floor is time itself: wait it out
            time.sleep(0.01)
        rep.checkpoint(2, _state(2))
        rep.wait_checkpoint()
        assert _stored_epoch(ctx, run_id) == 2
        rep.checkpoint(3, _state(3))  # right after epoch 2's: too soon
        rep.wait_checkpoint()
        assert rep.checkpoints_skipped == 2 and _stored_epoch(ctx, run_id) == 2
    finally:
        rep.close()

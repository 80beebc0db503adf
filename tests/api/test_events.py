"""The run event log: a metrics event stores which steps were written, not the values (the SSE
stream reads those from the metric points), Last-Event-ID replays exactly what was missed, and the
sweeper's retention deletes progress and metrics events of long-finished runs (status events
stay). In-process app on SQLite and Postgres; the writes are the worker's repo calls."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from api.sweeper import sweep_once
from persistence.db import session_scope
from persistence.models import Run, RunEvent, utcnow
from persistence.repo import events
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo
from tests.api.test_results import _read_events
from tests.factories import make_spec

T0 = 1.7e9


def _sse(client, run_id: str, last_id=None) -> list[tuple[int, str, dict]]:
    return [(i, kind, json.loads(data)) for i, kind, data in _read_events(client, run_id, last_id)]


def _train(client) -> str:
    """A run that claims, writes two flushes of points (as DbReporter.flush does) and succeeds."""
    run_id = client.post("/v1/experiments", json=make_spec()).json()["runs"][0]["id"]
    with session_scope(client.app.state.skipcore.sessions) as s:
        assert run_repo.claim(s, run_id, "w", lease_seconds=30, max_attempts=3).reason == "claimed"
    for steps in ((1, 2), (3,)):
        points = [(k, st, v, T0 + st) for st in steps for k, v in (("loss", 1.0 / st), ("acc", float("nan")))]
        with session_scope(client.app.state.skipcore.sessions) as s:
            metrics_repo.upsert_points(s, run_id, points)
            run_repo.progress(s, run_id, epoch=steps[-1], epochs=3, eta_seconds=None, worker="w")
            events.append_metrics(s, run_id, points)
    with session_scope(client.app.state.skipcore.sessions) as s:
        assert run_repo.finish(s, run_id, "succeeded", worker="w")
    return run_id


def test_metric_events_carry_the_points_read_from_the_metrics_table_not_a_copy(client):
    run_id = _train(client)
    with session_scope(client.app.state.skipcore.sessions) as s:
        stored = [d for (d,) in s.execute(select(RunEvent.data).where(RunEvent.run_id == run_id,
                                                                      RunEvent.kind == "metrics"))]
    assert stored == [{"steps": {"loss": [1, 2], "acc": [1, 2]}}, {"steps": {"loss": [3, 3], "acc": [3, 3]}}]
    whole = _sse(client, run_id)
    metric = [d for _, k, d in whole if k == "metrics"]
    assert metric == [{"points": {"loss": [[1, 1.0], [2, 0.5]], "acc": [[1, None], [2, None]]}},
                      {"points": {"loss": [[3, 1 / 3]], "acc": [[3, None]]}}]
    assert whole[-1][1] == "status" and whole[-1][2]["status"] == "succeeded"
    first_metrics = next(i for i, (_, k, _) in enumerate(whole) if k == "metrics")
    rest = _sse(client, run_id, last_id=whole[first_metrics][0])  # reconnect: exactly what came after
    assert rest == whole[first_metrics + 1:]


def test_sweeper_deletes_progress_and_metric_events_of_runs_finished_before_the_retention(client, settings):
    old, recent = _train(client), _train(client)
    state = client.app.state.skipcore
    state.settings = settings.model_copy(update={"event_retention_seconds": 3600})
    with session_scope(state.sessions) as s:
        s.get(Run, old).finished_at = utcnow() - timedelta(hours=2)
    sweep_once(state)
    with session_scope(state.sessions) as s:
        kinds = {rid: sorted({k for (k,) in s.execute(select(RunEvent.kind).where(RunEvent.run_id == rid))})
                 for rid in (old, recent)}
    assert kinds == {old: ["status"], recent: ["metrics", "progress", "status"]}
    assert _sse(client, old)[-1][2]["status"] == "succeeded"  # its stream still ends with the status
    with session_scope(state.sessions) as s:
        assert metrics_repo.history(s, old, "loss")[0]  # the points themselves stay

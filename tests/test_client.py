"""The Python client (`client.Client`) over real HTTP (uvicorn on a free port) against a world of
two owners with API keys: every method of the contract returns its typed object with the stored
values; errors are `ApiError` with the server's status; downloads verify their sha256."""

from __future__ import annotations

import pytest

from client import ApiError, Artifact, ChecksumError, Client, Experiment, Run
from tests.api.test_auth import ARTIFACT, ARTIFACT_BYTES, build_world
from tests import service
from tests.factories import make_spec


@pytest.fixture
def served(home):
    from api.main import create_app

    world = build_world(home)
    with service.in_thread(create_app(world.settings, sweeper=False)) as port:
        yield f"http://127.0.0.1:{port}", world


def test_experiments_submit_list_get_cancel_and_wait(served):
    url, w = served
    with Client(url, w.keys["a_write"]) as c:
        exp = c.submit(make_spec(name="typed", seeds=[0, 1]), idempotency_key="k-1")
        assert isinstance(exp, Experiment) and exp.name == "typed" and exp.status == "queued"
        assert [type(r) for r in exp.runs] == [Run, Run] and sorted(r.seed for r in exp.runs) == [0, 1]
        assert c.submit(make_spec(name="typed", seeds=[0, 1]), idempotency_key="k-1").id == exp.id
        with pytest.raises(ApiError) as conflict:
            c.submit(make_spec(name="other"), idempotency_key="k-1")
        assert conflict.value.status == 409

        assert c.get_experiment(exp.id).id == exp.id
        listed = [e.id for e in c.list_experiments(page_size=1)]  # one per page: the cursors are followed
        assert listed == [exp.id, w.exp_a]  # alice's only, newest first; bob's is not there
        assert [e.id for e in c.list_experiments(status="queued")] == [exp.id]

        one = c.cancel_run(exp.runs[0].id)
        assert isinstance(one, Run) and one.status == "cancelled"
        assert [r.status for r in c.get_experiment(exp.id).runs] == ["cancelled", "queued"]
        cancelled = c.cancel(exp.id)
        assert cancelled.status == "cancelled" and cancelled.finished
        assert c.wait(exp.id, timeout=5).status == "cancelled"

        with pytest.raises(ApiError) as bad:
            c.submit(make_spec(model={"depth": 0}))
        assert bad.value.status == 422 and "model.depth" in bad.value.message
        with pytest.raises(ApiError) as other:
            c.get_experiment(w.exp_b)
        assert other.value.status == 404

    with Client(url, w.keys["a_read"]) as reader, pytest.raises(ApiError) as forbidden:
        reader.submit(make_spec())
    assert forbidden.value.status == 403


def test_runs_metrics_layers_probes_artifacts_and_results(served, tmp_path):
    url, w = served
    with Client(url, w.keys["a_read"]) as c:
        run = c.get_run(w.run_a)
        assert isinstance(run, Run) and run.status == "succeeded" and run.progress.epoch == 3
        assert c.metric_keys(w.run_a) == ["train_loss"]
        full = c.metric_history(w.run_a, "train_loss", page_size=1)  # three pages
        assert [(p.step, p.value) for p in full] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
        assert [p.step for p in c.metric_history(w.run_a, "train_loss", max_points=2)] == [1, 3]
        assert [p.step for p in c.metric_history(w.run_a, "train_loss", step_min=2, step_max=2)] == [2]

        (stat,) = c.layers(w.run_a)
        assert (stat.name, stat.step, stat.values) == ("weight_mean_abs", 3, [0.1])
        matrix = c.layer_matrix(w.run_a)
        assert (matrix.layers, matrix.steps, matrix.values) == (["l0"], [3], [[0.1]])

        (probe,) = c.probes(w.run_a)
        assert probe.name == "weight_magnitude" and probe.status == "succeeded"
        assert c.probe(w.run_a, "weight_magnitude").result == {"x": 1}

        (art,) = c.artifacts(w.run_a)
        assert isinstance(art, Artifact) and art.name == ARTIFACT and art.size == len(ARTIFACT_BYTES)
        assert c.download(art) == ARTIFACT_BYTES
        path = c.download(art, tmp_path / "weights.pt")
        assert path.read_bytes() == ARTIFACT_BYTES
        wrong = Artifact(**{**art.__dict__, "sha256": "0" * 64})
        with pytest.raises(ChecksumError):
            c.download(wrong, tmp_path / "bad.pt")
        assert not (tmp_path / "bad.pt").exists() and not (tmp_path / "bad.pt.part").exists()

        agg = c.aggregate(w.exp_a)
        (point,) = agg.points
        assert point.n == 1 and point.metrics["val_loss"].mean == 0.5 and point.metrics["val_loss"].ci95 is None
        cmp = c.compare([w.exp_a])
        assert [e.id for e in cmp.experiments] == [w.exp_a] and cmp.experiments[0].summary["val_loss"].mean == 0.5
        with pytest.raises(ApiError) as hidden:
            c.compare([w.exp_a, w.exp_b])  # bob's experiment does not exist for alice
        assert hidden.value.status == 404

"""The API serves stored figures and never draws: serving every page and route loads neither torch
nor matplotlib (checked in a fresh interpreter), and a GET for a figure the worker has not drawn
yet writes nothing (no object, no row) and asks the figure task for it instead."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from persistence.db import session_scope
from persistence.queue import TASK_FIGURES
from persistence.repo import artifacts as artifact_repo
from persistence.repo import runs as run_repo
from persistence.schema import upgrade
from tests.factories import make_settings, make_spec, queued_messages

ROOT = Path(__file__).resolve().parents[2]
TRAINING_VEGA = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": "Training curves",
                 "data": {"values": [{"epoch": e, "value": 1.0 / e, "metric": k}
                                     for e in (1, 2, 3) for k in ("train_loss", "val_loss")]}}


def finished_experiment(client: TestClient, state) -> tuple[str, str]:
    """A submitted experiment whose single run ended with only the training curves' spec stored,
    as a worker leaves it; returns (experiment id, run id)."""
    r = client.post("/v1/experiments", json=make_spec(seeds=[0, 1]))
    assert r.status_code == 201, r.text
    exp = r.json()
    with session_scope(state.sessions) as s:
        for run in exp["runs"]:
            assert run_repo.claim(s, run["id"], "w", lease_seconds=60, max_attempts=3).reason == "claimed"
            assert run_repo.finish(s, run["id"], "succeeded", worker="w", summary={"val_loss": 0.5 + run["seed"]})
            key = f"runs/{run['id']}/figures/training.vl.json"
            stored = state.store.put(key, json.dumps(TRAINING_VEGA).encode(), content_type="application/json")
            artifact_repo.record(s, run_id=run["id"], name="figures/training.vl.json", kind="vega", size=stored.size,
                                 sha256=stored.sha256, uri=key, content_type="application/json")
    return exp["id"], exp["runs"][0]["id"]


SERVE_EVERYTHING = r"""
import sys
from pathlib import Path
import pytest
from fastapi.testclient import TestClient
from api.main import create_app
from persistence.schema import upgrade
from tests.factories import make_settings
from tests.api.test_serving_draws_nothing import finished_experiment

home = Path(sys.argv[1])
settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
upgrade(str(settings.database_url))
with TestClient(create_app(settings, sweeper=False)) as client:
    exp_id, run_id = finished_experiment(client, client.app.state.skipcore)
    arts = client.get(f"/v1/runs/{run_id}/artifacts").json()["items"]
    paths = ["/", "/healthz", "/metrics", "/docs", "/openapi.json", "/docs/openapi.json", "/v1/schema/experiment",
             "/v1/experiments", f"/v1/experiments/{exp_id}", f"/v1/experiments/{exp_id}/report",
             f"/v1/experiments/{exp_id}/aggregate", f"/v1/compare?experiments={exp_id}", f"/v1/runs/{run_id}",
             f"/v1/runs/{run_id}/metrics", f"/v1/runs/{run_id}/layers", f"/v1/runs/{run_id}/layers/matrix",
             f"/v1/runs/{run_id}/probes", f"/v1/runs/{run_id}/artifacts",
             f"/v1/runs/{run_id}/artifacts/figures/training.png", f"/v1/runs/{run_id}/artifacts/figures/training.svg",
             *[a["url"] for a in arts]]
    for path in paths:
        r = client.get(path)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
    assert client.post(f"/v1/experiments/{exp_id}/cancel").status_code in (202, 409)
print(",".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_serving_every_page_and_figure_loads_neither_torch_nor_matplotlib(tmp_path):
    out = subprocess.run([sys.executable, "-c", SERVE_EVERYTHING, str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = set(out.stdout.strip().splitlines()[-1].split(","))
    assert "fastapi" in loaded and "api" in loaded  # it did serve
    assert not loaded & {"torch", "torchvision", "matplotlib"}, sorted(loaded & {"torch", "torchvision", "matplotlib"})


def _objects(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in (home / "objects").rglob("*") if p.is_file()}


def _figure_requests(settings) -> list[list]:
    msgs = [json.loads(p.read_text()) for p in queued_messages(settings)]
    return [json.loads(base64.b64decode(m["body"])) for m in msgs if m["headers"]["task"] == TASK_FIGURES]


@pytest.fixture
def served(home):
    """(settings, client, app state, experiment id, run id) on SQLite, one finished experiment."""
    from api.main import create_app

    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
    upgrade(str(settings.database_url))
    with TestClient(create_app(settings, sweeper=False)) as client:
        state = client.app.state.skipcore
        yield (settings, client, state, *finished_experiment(client, state))


def test_a_figure_not_drawn_yet_answers_202_writes_nothing_and_asks_the_worker(home, served):
    settings, client, state, exp_id, run_id = served
    before_objects = _objects(home)
    before = sorted(a["name"] for a in client.get(f"/v1/runs/{run_id}/artifacts").json()["items"])
    assert before == ["figures/training.vl.json"]  # listing draws nothing
    r = client.get(f"/v1/runs/{run_id}/artifacts/figures/training.png")
    assert r.status_code == 202 and int(r.headers["retry-after"]) > 0, r.text
    assert "being drawn" in r.json()["detail"]
    page = client.get(f"/v1/experiments/{exp_id}/report")
    assert page.status_code == 200
    assert "training: being drawn by the worker" in page.text and "the sweep chart is being drawn" in page.text
    assert '<meta http-equiv="refresh"' in page.text  # the page comes back for the figures
    assert client.get(f"/v1/runs/{run_id}/artifacts/figures/nope.png").status_code == 404  # nothing to draw
    after = sorted(a["name"] for a in client.get(f"/v1/runs/{run_id}/artifacts").json()["items"])
    assert after == before and _objects(home) == before_objects
    requests = _figure_requests(settings)
    asked = [args for args, _, _ in requests]
    assert [exp_id, [run_id]] in asked and [exp_id, None] in asked, asked


def test_a_probe_figure_with_only_its_spec_stored_answers_202_and_the_page_waits_for_it(home, served):
    """A run is finished with its probe figures' specs alone; their images come afterwards."""
    settings, client, state, exp_id, run_id = served
    key = f"runs/{run_id}/figures/weight_magnitude.vl.json"
    with session_scope(state.sessions) as s:
        stored = state.store.put(key, json.dumps(TRAINING_VEGA).encode(), content_type="application/json")
        artifact_repo.record(s, run_id=run_id, name="figures/weight_magnitude.vl.json", kind="vega",
                             size=stored.size, sha256=stored.sha256, uri=key, content_type="application/json")
    for ext in ("png", "svg"):
        r = client.get(f"/v1/runs/{run_id}/artifacts/figures/weight_magnitude.{ext}")
        assert r.status_code == 202 and "being drawn" in r.json()["detail"], r.text
    page = client.get(f"/v1/experiments/{exp_id}/report").text
    assert "weight_magnitude: being drawn by the worker" in page and '<meta http-equiv="refresh"' in page
    assert [args for args, _, _ in _figure_requests(settings)].count([exp_id, [run_id]]) >= 2, "asked per GET"


def test_the_report_inlines_the_sweep_chart_the_worker_stored(served):
    from persistence.queue import experiment_figures_key

    _, client, state, exp_id, _ = served
    svg = '<svg xmlns="http://www.w3.org/2000/svg" class="stored-chart"></svg>'
    state.store.put(experiment_figures_key(exp_id), json.dumps({"sweep_svg": svg, "metric": "val_loss"}).encode())
    page = client.get(f"/v1/experiments/{exp_id}/report").text
    assert svg in page and "sweep chart is" not in page

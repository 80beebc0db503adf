"""Probe figures are drawn off the run's time, on the real embedded service (API + a Celery worker
process): a run is finished (`succeeded`, `finished_at`) with its probe figures' Vega-Lite specs
stored and no PNG or SVG; the worker then draws their images by itself (nothing GETs a figure or
the report here), after `finished_at`. The same for a seed ensemble's runs (CPU ensembles switched
on with SKIPCORE_ENSEMBLE_ON_CPU). The training curves' images stay drawn on demand only."""

from __future__ import annotations

import time
from datetime import timezone

import httpx
import pytest

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.repo import artifacts as artifact_repo
from persistence.repo import runs as run_repo
from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow
FINISHED = {"succeeded", "failed", "cancelled"}
PROBE_FIGURES = ("weight_magnitude", "skip_ablation")


def _images(client: httpx.Client, run_id: str) -> set[str]:
    """The run's artifact names (listing draws nothing and asks the worker for nothing)."""
    return {a["name"] for a in client.get(f"/v1/runs/{run_id}/artifacts").json()["items"]}


def _wait_images(client: httpx.Client, run_id: str, timeout: float = 120) -> set[str]:
    wanted = {f"figures/{p}.{ext}" for p in PROBE_FIGURES for ext in ("png", "svg")}
    deadline = time.monotonic() + timeout
    while not wanted <= (names := _images(client, run_id)):
        assert time.monotonic() < deadline, f"probe figures of run {run_id} not drawn after {timeout}s: {names}"
        time.sleep(0.2)
    return names


def _utc(t):
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _created_and_finished(home, run_id: str) -> tuple[dict, object]:
    engine = make_engine(f"sqlite:///{home / 'skipcore.db'}")
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            created = {a.name: _utc(a.created_at) for a in artifact_repo.list_for_run(s, run_id)}
            return created, _utc(run_repo.get(s, run_id).finished_at)
    finally:
        engine.dispose()


@pytest.mark.parametrize("seeds", [[0], [0, 1]], ids=["one run", "seed ensemble"])
def test_a_run_is_finished_before_its_probe_figures_are_drawn_and_they_appear_unasked(tmp_path, seeds):
    spec = make_spec(name="figures-after", train={"epochs": 3, "batch_size": 16, "checkpoint_every": 3},
                     probes=[{"name": "weight_magnitude"}, {"name": "skip_ablation", "grid_points": 24}], seeds=seeds)
    with service.embedded(tmp_path, device="cpu", ensemble_on_cpu="true") as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/v1/experiments", json=spec)
        assert r.status_code == 201, r.text
        exp = service.wait_for(client, f"/v1/experiments/{r.json()['id']}", FINISHED, timeout=150)
        assert exp["status"] == "succeeded", exp
        if len(seeds) > 1:
            assert "training 2 seeds as one ensemble" in (tmp_path / "serve.log").read_text()
        for run in exp["runs"]:
            names = _wait_images(client, run["id"])
            created, finished = _created_and_finished(tmp_path, run["id"])
            for probe in PROBE_FIGURES:
                # the spec is stored by the run, the images are drawn once it is finished
                assert created[f"figures/{probe}.vl.json"] <= finished, (probe, created, finished)
                for ext in ("png", "svg"):
                    assert created[f"figures/{probe}.{ext}"] > finished, (probe, ext, created, finished)
            assert "figures/training.vl.json" in names
            assert "figures/training.png" not in names  # the curves' images: only when asked for

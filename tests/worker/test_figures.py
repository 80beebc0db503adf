"""worker.figures on a real SQLite database and local object store: a probe's figure becomes three
artifacts (PNG, SVG, Vega-Lite); a result it cannot draw, or a probe without a figure, stores nothing
and raises nothing; the training curves come from the run's metric history; the figure task draws
what a run lacks, and an experiment's sweep chart once every run has finished."""

from __future__ import annotations

import json

import pytest

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.objects import ObjectNotFound, make_store
from persistence.queue import experiment_figures_key
from persistence.repo import artifacts as artifact_repo
from persistence.repo import experiments as exp_repo
from persistence.repo import metrics as metrics_repo
from persistence.repo import probes as probe_repo
from persistence.repo import runs as run_repo
from persistence.schema import upgrade
from tests.factories import make_settings, make_spec
from worker import experiment_figures, figures
from worker.context import WorkerContext


def _ctx_and_run(home):
    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
    upgrade(str(settings.database_url))
    engine = make_engine(str(settings.database_url))
    ctx = WorkerContext(settings, engine, make_sessionmaker(engine), make_store(settings), "test-worker")
    spec = make_spec()
    with session_scope(ctx.sessions) as s:
        exp = exp_repo.create(s, name="figs", spec=spec, runs=[(0, {}, spec)], owner="local")
        run_id = exp.runs[0].id
        metrics_repo.upsert_points(s, run_id, [(k, e, 1.0 / (e + 1) + (k == "val_loss"), 0.0)
                                               for e in range(1, 6) for k in ("train_loss", "val_loss")])
        metrics_repo.upsert_layer_stats(s, run_id, [("weight_mean_abs", e, [0.5, 0.3 / (e + 1), 0.1]) for e in range(6)])
    return ctx, run_id


def _names(ctx, run_id):
    with session_scope(ctx.sessions) as s:
        return {a.name: (a.kind, a.content_type) for a in artifact_repo.list_for_run(s, run_id)}


def test_probe_and_training_figures_become_artifacts(home):
    ctx, run_id = _ctx_and_run(home)
    result = {"layers": ["hidden.0", "hidden.1", "output"], "mean_abs": [0.5, 0.06, 0.1]}
    stored = figures.probe_figure(ctx, run_id, "weight_magnitude", result)
    assert stored == ["figures/weight_magnitude.png", "figures/weight_magnitude.svg", "figures/weight_magnitude.vl.json"]
    assert figures.training_figure(ctx, run_id) == ["figures/training.png", "figures/training.svg",
                                                    "figures/training.vl.json"]
    arts = _names(ctx, run_id)
    assert arts["figures/weight_magnitude.png"] == ("figure", "image/png")
    assert arts["figures/weight_magnitude.svg"] == ("figure", "image/svg+xml")
    assert arts["figures/training.vl.json"] == ("vega", "application/json")
    vega = json.loads(ctx.store.get(f"runs/{run_id}/figures/weight_magnitude.vl.json"))
    assert [r["epoch"] for r in vega["vconcat"][1]["data"]["values"]][::3] == list(range(6))  # heat map from the DB


def test_a_finishing_run_stores_the_probe_spec_alone_and_the_figure_task_draws_its_images(home):
    ctx, run_id = _ctx_and_run(home)
    result = {"layers": ["hidden.0", "hidden.1", "output"], "mean_abs": [0.5, 0.06, 0.1]}
    with session_scope(ctx.sessions) as s:
        probe_repo.record(s, run_id, "weight_magnitude", "succeeded", result, None)
    names = ["figures/weight_magnitude.png", "figures/weight_magnitude.svg", "figures/weight_magnitude.vl.json"]
    assert figures.probe_spec(ctx, run_id, "weight_magnitude", result) == names
    assert figures.training_figure(ctx, run_id)
    assert set(_names(ctx, run_id)) == {"figures/weight_magnitude.vl.json", "figures/training.vl.json"}
    spec = ctx.store.get(f"runs/{run_id}/figures/weight_magnitude.vl.json")
    assert figures.probe_spec(ctx, run_id, "depth_error", {"mc_error": 0.1}) == []  # no figure for it
    assert figures.probe_spec(ctx, run_id, "skip_ablation", {"x": "not a list"}) == []
    # after the run: its probe figure's images, not the training curves' (drawn when asked for)
    assert sorted(figures.missing_figures(ctx, [run_id], training=False)) == sorted(f"{run_id}/{n}" for n in names)
    assert ctx.store.get(f"runs/{run_id}/figures/weight_magnitude.vl.json") == spec  # the spec it had
    assert ctx.store.get(f"runs/{run_id}/figures/weight_magnitude.png").startswith(b"\x89PNG")
    assert "figures/training.png" not in _names(ctx, run_id)
    assert figures.missing_figures(ctx, [run_id], training=False) == []


def test_a_figure_that_cannot_be_drawn_stores_nothing_and_never_raises(home):
    ctx, run_id = _ctx_and_run(home)
    assert figures.probe_figure(ctx, run_id, "skip_ablation", {"x": "not a list"}) == []
    assert figures.probe_figure(ctx, run_id, "depth_error", {"mc_error": 0.1}) == []  # no figure for it
    ctx.store = None  # the object store is gone: the failure is logged, not raised
    assert figures.probe_figure(ctx, run_id, "weight_magnitude", {"layers": ["a"], "mean_abs": [1.0]}) == []
    assert not [n for n in _names(ctx, run_id) if n.startswith("figures/")]


def _finish(ctx, run_id, summary):
    with session_scope(ctx.sessions) as s:
        assert run_repo.claim(s, run_id, "w", lease_seconds=60, max_attempts=3).reason == "claimed"
        assert run_repo.finish(s, run_id, "succeeded", worker="w", summary=summary)


def test_the_figure_task_draws_the_training_images_and_missing_probe_figures_once(home):
    ctx, run_id = _ctx_and_run(home)
    assert figures.training_figure(ctx, run_id)  # as a finishing run leaves it: the spec alone
    with session_scope(ctx.sessions) as s:  # a result stored before its figure existed
        probe_repo.record(s, run_id, "weight_magnitude", "succeeded",
                          {"layers": ["hidden.0", "hidden.1", "output"], "mean_abs": [0.5, 0.06, 0.1]}, None)
        probe_repo.record(s, run_id, "skip_ablation", "failed", {}, "boom")
    assert set(_names(ctx, run_id)) == {"figures/training.vl.json"}
    drawn = figures.missing_figures(ctx, [run_id])
    assert sorted(drawn) == sorted(f"{run_id}/figures/{n}" for n in (
        "training.png", "training.svg", "weight_magnitude.png", "weight_magnitude.svg", "weight_magnitude.vl.json"))
    png = ctx.store.get(f"runs/{run_id}/figures/training.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert figures.missing_figures(ctx, [run_id]) == []  # nothing left to draw


def test_the_sweep_chart_is_stored_once_every_run_of_the_experiment_has_finished(home):
    ctx, _ = _ctx_and_run(home)
    spec = make_spec()
    plan = [(seed, {"model.depth": depth}, spec) for depth in (2, 4) for seed in (0, 1, 2)]
    with session_scope(ctx.sessions) as s:
        exp = exp_repo.create(s, name="sweep", spec=spec, runs=plan, owner="local")
        exp_id, ids = exp.id, [r.id for r in exp.runs]
    for i, run_id in enumerate(ids[:-1]):
        _finish(ctx, run_id, {"val_loss": 0.1 * (1 + i % 3) + 0.5 * (i >= 3)})
    key = experiment_figures_key(exp_id)
    assert not experiment_figures.draw(ctx, exp_id, experiment_figures.read_runs(ctx, exp_id))  # one still queued
    with pytest.raises(ObjectNotFound):
        ctx.store.get(key)
    _finish(ctx, ids[-1], {"val_loss": 0.8})
    runs = experiment_figures.read_runs(ctx, exp_id)
    assert runs.finished and experiment_figures.shown_runs(runs) == ids
    assert experiment_figures.draw(ctx, exp_id, runs)
    doc = json.loads(ctx.store.get(key))
    assert doc["metric"] == "val_loss"
    assert doc["sweep_svg"].startswith("<svg") and doc["sweep_svg"].count('class="ci"') == 2  # 3 seeds a point

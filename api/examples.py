"""Realistic response examples for the OpenAPI document, one per endpoint's success answer.

They describe one story: a depth sweep of telescope MLPs on the sine task (seed 000, figure 4),
three seeds, half trained. `tests/api/test_openapi.py` validates each JSON example against its
response schema, so they cannot drift from the models.
"""

from __future__ import annotations

from typing import Any

EXP = "3f6c2a9e8b0d4e51a7c4d2b9e1f08a37"
RUN = "b71e04c95a2f4d6e8c3a1f7d9e2b5c60"
RUN2 = "0d9a3e7c1b5f4a28964e2c7b8d1f3a50"
T0, T1 = "2026-11-23T10:00:00.000000Z", "2026-11-23T10:04:12.500000Z"

SPEC: dict[str, Any] = {
    "name": "telescope depth sweep", "description": "seed 000 figure 4: MC error against depth",
    "model": {"family": "telescope_mlp", "depth": 8, "width": 64, "activation": "relu", "init": "he"},
    "data": {"name": "sine", "n_train": 4096, "n_val": 1024, "x_min": -6.283185307179586,
             "x_max": 6.283185307179586, "noise": 0.0},
    "train": {"optimizer": "adam", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "l1": 0.0, "epochs": 200,
              "batch_size": 256, "grad_clip": None, "lr_schedule": "constant", "log_every": 1,
              "checkpoint_every": 10, "skip_star": None},
    "probes": [{"name": "depth_error", "n_samples": 4096}],
    "seeds": [0, 1, 2], "sweep": {"model.depth": [2, 8, 32]}, "tags": {"seed": "000"},
}


def _run(run_id: str, seed: int, depth: int, status: str, epoch: int, index: int) -> dict[str, Any]:
    done = status == "succeeded"
    return {
        "id": run_id, "experiment_id": EXP, "status": status, "seed": seed, "params": {"model.depth": depth},
        "created_at": T0, "started_at": T0 if status != "queued" else None, "finished_at": T1 if done else None,
        "progress": {"epoch": epoch, "epochs": 200, "fraction": epoch / 200,
                     "eta_seconds": 0.0 if done else (None if status == "queued" else 61.8)},
        "summary": {"train_loss": 0.0031, "val_loss": 0.0042, "mc_error": 0.0118, "epochs_run": 200} if done else {},
        "error": None, "attempts": 1 if status != "queued" else 0, "resumes": 0, "index": index,
    }


RUN_OUT = _run(RUN, 0, 8, "running", 82, 3)
RUNS = [_run(RUN2, 0, 2, "succeeded", 200, 0), RUN_OUT, _run("e5c81f2a9d3b4c7e", 1, 32, "queued", 0, 7)]
EXPERIMENT = {"id": EXP, "name": SPEC["name"], "status": "running", "created_at": T0, "started_at": T0,
              "finished_at": None, "spec": SPEC, "runs": RUNS, "error": None, "owner": "alice"}
STAT = {"mean": 0.0121, "std": 0.0017, "ci95": [0.0079, 0.0163], "n": 3}

JSON: dict[tuple[str, str], Any] = {
    ("POST", "/v1/experiments"): {**EXPERIMENT, "status": "queued", "started_at": None,
                                  "runs": [_run(RUN, 0, 2, "queued", 0, 0)]},
    ("GET", "/v1/experiments"): {"items": [EXPERIMENT], "next_cursor": "MjAyNi0xMS0yM1QxMDowMDowMHwzZjZj"},
    ("GET", "/v1/experiments/{experiment_id}"): EXPERIMENT,
    ("POST", "/v1/experiments/{experiment_id}/cancel"): {
        **EXPERIMENT, "status": "cancelling",
        "runs": [RUNS[0], {**RUN_OUT, "status": "cancelling"}, {**RUNS[2], "status": "cancelled", "finished_at": T1}]},
    ("GET", "/v1/runs/{run_id}"): RUN_OUT,
    ("POST", "/v1/runs/{run_id}/cancel"): {**RUN_OUT, "status": "cancelling"},
    ("GET", "/v1/runs/{run_id}/metrics"): {"keys": ["grad_norm", "lr", "train_loss", "val_loss"]},
    ("GET", "/v1/runs/{run_id}/metrics/{key}"): {
        "key": "val_loss", "points": [{"step": 1, "value": 0.4821, "time": "2026-11-23T10:00:01.200000Z"},
                                      {"step": 2, "value": 0.3177, "time": "2026-11-23T10:00:02.400000Z"}],
        "next_cursor": "2", "downsampled": False},
    ("GET", "/v1/runs/{run_id}/layers"): {
        "layers": ["blocks.0", "blocks.1", "blocks.2"],
        "stats": [{"name": "weight_mean_abs", "step": 80, "values": [0.204, 0.197, 0.188]}]},
    ("GET", "/v1/runs/{run_id}/layers/matrix"): {
        "run_id": RUN, "name": "weight_mean_abs", "layers": ["blocks.0", "blocks.1", "blocks.2"], "steps": [10, 80],
        "values": [[0.201, 0.199, 0.2], [0.204, 0.197, 0.188]]},
    ("GET", "/v1/runs/{run_id}/probes"): {"items": [
        {"name": "depth_error", "status": "succeeded", "result": {"mc_error": 0.0118, "n_samples": 4096},
         "error": None}]},
    ("GET", "/v1/runs/{run_id}/probes/{name}"): {
        "name": "depth_error", "status": "succeeded", "result": {"mc_error": 0.0118, "n_samples": 4096}, "error": None},
    ("GET", "/v1/runs/{run_id}/artifacts"): {"items": [
        {"name": "checkpoint.pt", "kind": "checkpoint", "size": 214_733,
         "sha256": "a82087423a13cb9d32812403246e56861ec29245d76c8c90a455255bf91dff17",
         "url": f"https://skipcore.example/v1/runs/{RUN}/artifacts/checkpoint.pt?expires=1795950000&sig=b45c88…",
         "content_type": "application/octet-stream"},
        {"name": "figures/training.svg", "kind": "figure", "size": 18_204,
         "sha256": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
         "url": f"https://skipcore.example/v1/runs/{RUN}/artifacts/figures/training.svg?expires=1795950000&sig=9c1d…",
         "content_type": "image/svg+xml"}]},
    ("GET", "/healthz"): {"status": "ok", "database": "ok"},
    ("GET", "/v1/experiments/{experiment_id}/aggregate"): {
        "experiment_id": EXP, "status": "succeeded", "metrics": ["mc_error", "val_loss"],
        "points": [{"params": {"model.depth": 8}, "n": 3, "runs": {"succeeded": 3}, "run_ids": [RUN, RUN2, "e5c81f2a"],
                    "seeds": [0, 1, 2], "metrics": {"mc_error": STAT, "val_loss": {**STAT, "mean": 0.0042}},
                    "layers": None}]},
    ("GET", "/v1/compare"): {
        "metrics": ["train_loss", "val_accuracy"],
        "experiments": [
            {"id": EXP, "name": "skip cnn", "status": "succeeded", "spec": {"model": {"family": "skip_cnn"}},
             "sweep": {}, "runs": 3, "succeeded": 3,
             "summary": {"val_accuracy": {"mean": 0.84, "std": 0.01, "ci95": [0.815, 0.865], "n": 3}}},
            {"id": "7a2b9c", "name": "vanilla cnn", "status": "succeeded", "spec": {"model": {"family": "vanilla_cnn"}},
             "sweep": {}, "runs": 3, "succeeded": 3,
             "summary": {"val_accuracy": {"mean": 0.68, "std": 0.02, "ci95": [0.63, 0.73], "n": 3}}}]},
    ("GET", "/v1/schema/experiment"): {"title": "ExperimentSpec", "type": "object", "additionalProperties": False,
                                       "required": ["name", "model", "data"], "properties": {"name": {"type": "string"}}},
}

TEXT: dict[tuple[str, str, str], str] = {
    ("GET", "/v1/runs/{run_id}/events", "text/event-stream"): (
        'id: 41\nevent: status\ndata: {"status":"running","attempt":1}\n\n'
        'id: 42\nevent: progress\ndata: {"epoch":82,"epochs":200,"fraction":0.41,"eta_seconds":61.8}\n\n'
        'id: 43\nevent: metrics\ndata: {"points":{"val_loss":[[82,0.0047]]}}\n\n'),
    ("GET", "/metrics", "text/plain"): (
        "# HELP skipcore_queue_depth Runs waiting to start (status queued)\n# TYPE skipcore_queue_depth gauge\n"
        "skipcore_queue_depth 4.0\n# HELP skipcore_runs Runs by status\n# TYPE skipcore_runs gauge\n"
        'skipcore_runs{status="running"} 2.0\n'),
    ("GET", "/", "text/html"): (
        "<!doctype html><html><head><title>skipcore: experiments</title></head><body><h1>skipcore experiments</h1>"
        "<table><tr class=\"experiment\"><td><a href=\"/v1/experiments/9a1b…/report\">telescope-d50</a></td>"
        "<td>running</td><td>1 running, 2 queued</td><td>41%</td><td>1 min 02 s + 2 queued</td></tr></table>"
        "</body></html>"),
    ("GET", "/v1/experiments/{experiment_id}/report", "text/html"): (
        "<!doctype html><html><head><title>telescope depth sweep</title></head><body><h1>telescope depth sweep</h1>"
        "<table>…</table><img src=\"…/figures/depth_error.svg?expires=…&amp;sig=…\" alt=\"MC error against depth\">"
        "</body></html>"),
}


def install(schema: dict[str, Any]) -> None:
    """Put an example on each success answer of each operation that has none (the OpenAPI document)."""
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            answers = [a for code, a in op.get("responses", {}).items() if code.startswith("2")]
            for media, body in [(m, b) for a in answers for m, b in a.get("content", {}).items()]:
                if "example" in body or "examples" in body:
                    continue
                key = (method.upper(), path)
                if media == "application/json" and key in JSON:
                    body["example"] = JSON[key]
                elif (*key, media) in TEXT:
                    body["example"] = TEXT[(*key, media)]

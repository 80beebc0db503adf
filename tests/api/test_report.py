"""GET /v1/experiments/{id}/report on the real embedded service (API + a real Celery worker), read by
HTTP and by headless Chromium: run rows, figures the worker stored, the aggregate across seeds, the
sweep chart the worker drew once the runs had finished, the spec. The worker draws the figures after
the last run ends, so the fixtures wait for the page to have no placeholder left.

Chromium is required (Debian: `apt-get install -y chromium`); without it the browser test FAILS.
"""

from __future__ import annotations

import html
import io
import re

import math
import time

import httpx
import matplotlib.image as mpimg
import pytest
from markupsafe import escape

from api import report
from skipcore import charts
from tests import browser, service
from tests.factories import make_spec

pytestmark = pytest.mark.slow
NAME = 'report <b>&"sweep"</b>'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("report")
    spec = make_spec(name=NAME, seeds=[0, 1], sweep={"model.depth": [2, 3]},
                     train={"epochs": 3, "checkpoint_every": 3},
                     probes=[{"name": "weight_magnitude", "every": 1}, {"name": "skip_ablation", "grid_points": 24}])
    with service.embedded(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/v1/experiments", json=spec)
        assert r.status_code == 201, r.text
        exp = service.wait_for(client, f"/v1/experiments/{r.json()['id']}", {"succeeded", "failed"}, timeout=150)
        assert exp["status"] == "succeeded", exp
        _wait_chart(home, exp["id"])  # before any page asks for it: the worker's own doing
        _wait_figures(client, exp["id"])
        yield url, client, exp, home


def _wait_chart(home, exp_id: str, timeout: float = 60) -> None:
    """The worker stores the sweep chart when the experiment's last run ends (no page asked for it)."""
    doc = home / "objects" / "experiments" / exp_id / "figures.json"
    deadline = time.monotonic() + timeout
    while not doc.is_file():
        assert time.monotonic() < deadline, f"no sweep chart stored for {exp_id} after {timeout}s"
        time.sleep(0.2)


def _wait_figures(client: httpx.Client, exp_id: str, timeout: float = 120) -> str:
    """The report page once the worker has drawn every figure it shows (no placeholder left)."""
    deadline = time.monotonic() + timeout
    while 'class="pending"' in (page := client.get(f"/v1/experiments/{exp_id}/report").text):
        assert time.monotonic() < deadline, f"figures of {exp_id} still not drawn after {timeout}s"
        time.sleep(0.2)
    return page


def _wait_epochs(client: httpx.Client, run_id: str, epochs: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(client.get(f"/v1/runs/{run_id}/metrics/train_loss").json().get("points") or []) < epochs:
        assert time.monotonic() < deadline, f"run {run_id} trained fewer than {epochs} epochs in {timeout}s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stopped(served):
    """An experiment whose first run is cancelled mid-training and whose second diverges (fails)."""
    _, client, _, _ = served
    # plain MLP, SGD on sine: lr 0.05 blows up in epoch 2; lr 0.01 trains until it is cancelled
    spec = make_spec(name="stopped", model={"family": "plain_mlp", "depth": 6, "width": 16},
                     data={"name": "sine", "n_train": 128, "n_val": 32}, probes=[],
                     train={"optimizer": "sgd", "lr": 0.01, "epochs": 100000, "batch_size": 32},
                     sweep={"train.lr": [0.01, 0.05]})
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    exp = r.json()
    long_run = next(run for run in exp["runs"] if run["params"]["train.lr"] == 0.01)
    _wait_epochs(client, long_run["id"], 3)
    assert client.post(f"/v1/runs/{long_run['id']}/cancel").status_code == 202
    exp = service.wait_for(client, f"/v1/experiments/{exp['id']}", {"succeeded", "failed", "cancelled"}, timeout=150)
    assert sorted(run["status"] for run in exp["runs"]) == ["cancelled", "failed"], exp["runs"]
    _wait_figures(client, exp["id"])
    return exp


def _table(page: str, heading: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and the rows' cells (inner HTML) of the table after `<h2>heading</h2>`."""
    part = page.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    head = [re.sub(r"<[^>]+>", " ", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", part)]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", part.split("<tbody>")[1])]
    return head, rows


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _significant(text: str) -> int:
    """Significant digits as written (an integer's trailing zeros are not counted: 160 has 2)."""
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    return len(digits if "." in text else digits.rstrip("0"))


def _img_urls(page: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r'<img src="([^"]+)"', page)]


def test_report_lists_runs_figures_aggregate_and_spec(served):
    url, client, exp, _ = served
    r = client.get(f"/v1/experiments/{exp['id']}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert escape(NAME) in page and NAME not in page  # escaped (by the template), never raw
    for run in exp["runs"]:
        assert f'id="run-{run["id"]}"' in page and f'id="figs-{run["id"]}"' in page
    assert page.count('<tr id="run-') == 4
    assert "Across seeds" in page and "mean ± 95% CI" in page and "<svg" in page  # the sweep chart
    # 2 seeds per point: the chart shows each seed, not a 95% CI
    assert page.count('class="seed"') == 4 and 'class="ci"' not in page
    assert page.count('model.depth=2</td><td>2/2</td>') == 1 and "model.depth=3</td><td>2/2</td>" in page
    assert escape('"telescope_mlp"') in page  # the spec, pretty JSON
    urls = _img_urls(page)
    per_run = {name for u in urls for name in re.findall(r"figures/(\w+)\.png", u)}
    assert per_run == {"training", "weight_magnitude", "skip_ablation"}
    assert len(urls) == 4 * 3
    for u in urls[:3] + urls[-1:]:  # signed URLs: no API key needed
        blob = httpx.get(url + u, timeout=30)
        assert blob.status_code == 200 and blob.content.startswith(PNG_SIGNATURE)
        img = mpimg.imread(io.BytesIO(blob.content))
        assert img[..., :3].var() > 1e-3


def test_the_across_seed_table_rounds_mean_and_ci_to_two_significant_digits_of_the_half_width(served):
    _, client, exp, _ = served
    page = client.get(f"/v1/experiments/{exp['id']}/report").text
    stats = [(s["mean"], (s["ci95"][1] - s["ci95"][0]) / 2)
             for p in client.get(f"/v1/experiments/{exp['id']}/aggregate").json()["points"]
             for s in p["metrics"].values() if s["ci95"]]
    cells = [re.fullmatch(r"(\S+) ± (\S+)<div class=\"muted\">\[(\S+), (\S+)\]</div>", c)
             for row in _table(page, "Across seeds")[1] for c in row[2:]]
    assert cells and all(cells), cells
    for m in cells:
        mean, half, lo, hi = (g.replace("−", "-") for g in m.groups())
        d = _decimals(half)
        assert _significant(half) == 2 or (d == 0 and _significant(half) == 1), m.group(0)  # no ± 7.756e-05
        assert _decimals(mean) == _decimals(lo) == _decimals(hi) == d, m.group(0)
        unit = 10.0 ** (-d if "." in half else len(half) - len(half.rstrip("0")))  # the last digit kept
        tol = 0.5 * unit * (1 + 1e-9)
        assert any(abs(mu - float(mean)) <= tol and abs(h - float(half)) <= tol for mu, h in stats), m.group(0)


def test_the_runs_table_has_one_time_column_the_training_time(served):
    _, client, exp, _ = served
    head, rows = _table(client.get(f"/v1/experiments/{exp['id']}/report").text, "Runs")
    timed = [i for i, h in enumerate(head) if "time" in h]
    assert len(timed) == 1 and head[timed[0]].startswith("training time"), head
    by_id = {r["id"]: r for r in exp["runs"]}
    assert len(rows) == len(exp["runs"]), (len(rows), len(exp["runs"]))  # every run's row was read
    for cells in rows:
        run = by_id[re.search(r">([^<]+)</a>", cells[1]).group(1)]
        assert cells[timed[0]] == report.seconds(run["summary"]["time_s"]), (cells, run["summary"])


def test_cancelled_and_failed_runs_show_the_training_curves_of_the_epochs_they_have(served, stopped):
    url, client, _, _ = served
    page = client.get(f"/v1/experiments/{stopped['id']}/report").text
    for run in stopped["runs"]:
        figs = page.split(f'id="figs-{run["id"]}"', 1)[1].split("</details>", 1)[0]
        urls = _img_urls(figs)
        assert [u for u in urls if "figures/training.png" in u], (run["status"], figs)
        blob = httpx.get(url + urls[0], timeout=30)
        assert blob.status_code == 200 and blob.content.startswith(PNG_SIGNATURE)
        arts = {a["name"]: a for a in client.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]}
        spec = httpx.get(arts["figures/training.vl.json"]["url"], timeout=30).json()
        epochs = {r["epoch"] for r in spec["data"]["values"] if r["metric"] == "train_loss"}
        assert len(epochs) >= (3 if run["status"] == "cancelled" else 1), (run["status"], epochs)


def _points(stats_by_x: dict) -> list:
    return [({"model.depth": x}, s["n"], s["n"], {"val_loss": s}) for x, s in stats_by_x.items()]


def _svg_y(svg: str) -> tuple[list[str], callable]:
    """The chart's y tick labels and the data value at a pixel height (from the ticks' positions)."""
    ticks = [(float(y) - 4, t) for y, t in
             re.findall(r'<text(?: class="ytick")? x="64" y="([^"]+)" text-anchor="end">([^<]+)</text>', svg)]
    (p0, t0), (p1, t1) = ticks[0], ticks[-1]
    v0, v1 = (float(t.replace("−", "-")) for t in (t0, t1))
    return [t for _, t in ticks], lambda py: v0 + (py - p0) * (v1 - v0) / (p1 - p0)


def test_the_sweep_chart_never_draws_a_positive_metrics_ci_below_zero_and_has_round_ticks():
    stat = lambda mean, lo, hi, values: {"mean": mean, "ci95": [lo, hi], "n": len(values), "values": values}  # noqa: E731
    svg = charts.sweep_svg(_points({2: stat(0.01419, -0.0158, 0.0442, [0.001, 0.003, 0.038]),
                                    4: stat(0.009462, 0.0051, 0.0138, [0.008, 0.009, 0.011]),
                                    8: stat(0.02107, 0.0127, 0.0294, [0.018, 0.021, 0.024])}), "val_loss")
    labels, value_at = _svg_y(svg)
    bars = re.findall(r'<line (?:class="ci" )?x1="([^"]+)" x2="\1" y1="([^"]+)" y2="([^"]+)" stroke="#1f77b4"', svg)
    bars = [(lo, hi) for _, lo, hi in bars]
    assert len(bars) == 3
    assert min(value_at(float(y)) for pair in bars for y in pair) >= -1e-9, (labels, bars)
    assert "log scale" not in svg  # never a log axis under a CI that reaches 0
    values = [float(t.replace("−", "-")) for t in labels]
    step = values[1] - values[0]
    assert all(math.isclose(b - a, step, rel_tol=1e-9) for a, b in zip(values, values[1:])), labels
    assert any(math.isclose(step / 10 ** math.floor(math.log10(step)), m) for m in (1, 2, 5)), labels
    assert all(_significant(t) <= 2 for t in labels), labels  # 0.005, 0.01, ..., not 0.01419


def test_the_sweep_chart_shows_the_seeds_of_a_point_with_fewer_than_3():
    svg = charts.sweep_svg(_points({2: {"mean": 0.3, "ci95": [-1.0, 1.6], "n": 2, "values": [0.25, 0.35]},
                                    4: {"mean": 0.12, "ci95": [0.1, 0.14], "n": 3, "values": [0.11, 0.12, 0.13]}}),
                           "val_loss")
    assert svg.count('class="seed"') == 2 and svg.count('class="ci"') == 1
    _, value_at = _svg_y(svg)
    seeds = sorted(round(value_at(float(y)), 3) for y in re.findall(r'<circle class="seed" cx="[^"]+" cy="([^"]+)"', svg))
    assert seeds == [0.25, 0.35]


def test_worker_stores_png_svg_and_vega_for_each_figure(served):
    _, client, exp, _ = served
    arts = {a["name"]: a for a in client.get(f"/v1/runs/{exp['runs'][0]['id']}/artifacts").json()["items"]}
    for stem in ("training", "weight_magnitude", "skip_ablation"):
        assert arts[f"figures/{stem}.png"]["kind"] == arts[f"figures/{stem}.svg"]["kind"] == "figure"
        vega = arts[f"figures/{stem}.vl.json"]
        assert vega["kind"] == "vega"
        spec = httpx.get(vega["url"], timeout=30).json()
        assert spec["$schema"].endswith("vega-lite/v5.json") and (spec.get("data") or spec.get("vconcat"))


def test_report_of_an_unknown_experiment_is_404(served):
    _, client, _, _ = served
    assert client.get("/v1/experiments/nope/report").status_code == 404


def test_report_renders_in_headless_chromium_without_console_errors(served, stopped, tmp_path):
    url, _, exp, home = served
    with browser.chromium(tmp_path / "profile") as page:
        page.open(f"{url}/v1/experiments/{stopped['id']}/report", width=1280, height=1200)
        stopped_images = page.images_after_scroll()  # cancelled and failed runs: their training curves
        stopped_errors = page.errors()
        page.open(f"{url}/v1/experiments/{exp['id']}/report", width=1280, height=2000)
        images = page.images_after_scroll()  # the figures load lazily, as a reader scrolls
        shot = page.screenshot()
        errors = page.errors()
    assert not stopped_errors, stopped_errors
    assert len(stopped_images) == 2 and all(done and w > 300 for done, w in stopped_images), stopped_images
    (home / "report_screenshot.png").write_bytes(shot)  # kept with the service logs, to look at
    assert not errors, errors
    assert len(images) == 12 and all(done and w > 300 for done, w in images), images
    img = mpimg.imread(io.BytesIO(shot))
    assert img.shape[:2] == (2000, 1280)
    assert img[..., :3].var() > 1e-3, "the screenshot is blank"
    # the figures were drawn: part of the page holds many distinct colours (a plot), not just text
    assert len({tuple(p) for p in (img[1000:1600, :, :3] * 255).astype(int).reshape(-1, 3)[::7]}) > 100


def test_the_browser_check_sees_console_errors_and_broken_images(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="missing.png"><script>console.error("boom"); nope();</script></body></html>')
    with browser.chromium(tmp_path / "profile") as page:
        page.open(bad.as_uri(), width=400, height=300)
        errors = page.errors()
    assert any("boom" in e for e in errors) and any("nope" in e for e in errors), errors
    assert any("missing.png" in e for e in errors), errors

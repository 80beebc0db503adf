"""GET /v1/experiments/{id}/report on the real embedded service (API + a real Celery worker), read by
HTTP and by headless Chromium: run rows, figures the worker stored, the aggregate across seeds, the spec.

Chromium is required (Debian: `apt-get install -y chromium`); without it the browser test FAILS.
"""

from __future__ import annotations

import html
import io
import re

import httpx
import matplotlib.image as mpimg
import pytest

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
        yield url, client, exp, home


def _img_urls(page: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r'<img src="([^"]+)"', page)]


def test_report_lists_runs_figures_aggregate_and_spec(served):
    url, client, exp, _ = served
    r = client.get(f"/v1/experiments/{exp['id']}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert html.escape(NAME) in page and NAME not in page  # escaped, never raw
    for run in exp["runs"]:
        assert f'id="run-{run["id"]}"' in page and f'id="figs-{run["id"]}"' in page
    assert page.count('<tr id="run-') == 4
    assert "Across seeds" in page and "mean ± 95% CI" in page and "<svg" in page  # the sweep chart
    assert page.count('model.depth=2</td><td>2/2</td>') == 1 and "model.depth=3</td><td>2/2</td>" in page
    assert html.escape('"telescope_mlp"') in page  # the spec, pretty JSON
    urls = _img_urls(page)
    per_run = {name for u in urls for name in re.findall(r"figures/(\w+)\.png", u)}
    assert per_run == {"training", "weight_magnitude", "skip_ablation"}
    assert len(urls) == 4 * 3
    for u in urls[:3] + urls[-1:]:  # signed URLs: no API key needed
        blob = httpx.get(url + u, timeout=30)
        assert blob.status_code == 200 and blob.content.startswith(PNG_SIGNATURE)
        img = mpimg.imread(io.BytesIO(blob.content))
        assert img[..., :3].var() > 1e-3


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


def test_report_renders_in_headless_chromium_without_console_errors(served, tmp_path):
    url, _, exp, home = served
    with browser.chromium(tmp_path / "profile") as page:
        page.open(f"{url}/v1/experiments/{exp['id']}/report", width=1280, height=2000)
        images = page.images_after_scroll()  # the figures load lazily, as a reader scrolls
        shot = page.screenshot()
        errors = page.errors()
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

"""The front page (`GET /`) and `/docs`, read over HTTP and in headless Chromium.

- HTTP (SQLite and Postgres, in-process): experiments newest first, names escaped, links to each
  report and its runs, the status filter, the link to /docs.
- Chromium on the real embedded service (`skipcore serve`: API + a Celery worker): the page loads
  without console errors, shows a submitted experiment, and follows it to `succeeded` without a
  reload; an experiment submitted while the page is open appears.
- Chromium with no network but loopback: /docs draws the operations from the package's own
  Swagger UI files, and no request leaves the machine.

Chromium is required (Debian: `apt-get install -y chromium`); without it the browser tests FAIL.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import matplotlib.image as mpimg
import pytest

from persistence.schema import upgrade
from tests import browser, service
from tests.factories import make_settings, make_spec

NAME = 'front <b>&"page"</b>'
SCREENSHOT = Path("/tmp") / "skipcore_front_page.png"  # kept to look at


def test_front_page_lists_experiments_newest_first_with_links_and_a_status_filter(client):
    ids = [client.post("/v1/experiments", json=make_spec(name=f"{NAME} {i}", seeds=[0, 1])).json()["id"]
           for i in range(3)]
    cancelled = ids[0]
    assert client.post(f"/v1/experiments/{cancelled}/cancel").status_code == 202
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    assert re.findall(r'<tr class="experiment" id="exp-(\w+)"', page) == list(reversed(ids))  # newest first
    assert "front &lt;b&gt;&amp;" in page and "<b>" not in page  # escaped, never raw
    for i in ids:
        assert f'href="/v1/experiments/{i}/report"' in page and f'href="/v1/experiments/{i}"' in page
    runs = client.get(f"/v1/experiments/{ids[1]}").json()["runs"]
    assert all(f'href="/v1/runs/{run["id"]}"' in page for run in runs)
    assert 'href="/docs"' in page and 'href="/?status=running"' in page
    assert "2 queued" in page and "2 cancelled" in page and 'role="progressbar"' in page

    only = client.get("/", params={"status": "cancelled"}).text
    assert re.findall(r'<tr class="experiment" id="exp-(\w+)"', only) == [cancelled]
    none = client.get("/", params={"status": "succeeded"}).text
    assert "No experiments with status succeeded yet" in none
    bad = client.get("/", params={"status": "bogus"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]


@pytest.mark.slow
def test_front_page_in_chromium_shows_a_submitted_experiment_and_follows_it_live(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    spec = make_spec(name=NAME, seeds=[0, 1], train={"epochs": 3, "checkpoint_every": 3}, probes=[])
    with service.embedded(home) as url, httpx.Client(base_url=url, timeout=30) as client, \
            browser.chromium(tmp_path / "profile") as page:
        first = client.post("/v1/experiments", json=spec).json()["id"]
        page.open(url + "/", width=1280, height=800)
        assert page.evaluate(f"!!document.getElementById('exp-{first}')"), page.evaluate("document.body.innerText")
        assert page.evaluate(f"document.querySelector('#exp-{first} a').textContent") == NAME  # text, not markup
        # the page follows the experiment to its end without a reload
        page.wait_for(f"document.querySelector('#exp-{first}').dataset.status === 'succeeded'", timeout=150)
        assert page.evaluate(f"document.querySelector('#exp-{first} [role=progressbar]')"
                             ".getAttribute('aria-valuenow')") == "100.0"
        second = client.post("/v1/experiments", json=make_spec(name="second", probes=[])).json()["id"]
        page.wait_for(f"!!document.getElementById('exp-{second}')", timeout=30)  # appears while open
        order = page.evaluate("[...document.querySelectorAll('tr.experiment')].map(r => r.id)")
        assert order == [f"exp-{second}", f"exp-{first}"], order
        page.evaluate(f"document.querySelector('#exp-{first} details').open = true")
        shot = page.screenshot()
        errors = page.errors()
    SCREENSHOT.write_bytes(shot)
    (home / "front_page.png").write_bytes(shot)
    assert not errors, errors
    img = mpimg.imread(io.BytesIO(shot))
    assert img.shape[:2] == (800, 1280) and img[..., :3].var() > 1e-3, "the screenshot is blank"


@pytest.fixture
def app_url(home):
    from api.main import create_app

    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
    upgrade(str(settings.database_url))
    with service.in_thread(create_app(settings, sweeper=False)) as port:
        yield f"http://127.0.0.1:{port}"


def test_docs_draws_every_operation_with_no_network_but_loopback(app_url, tmp_path):
    operations = sum(len(ops) for ops in httpx.get(app_url + "/openapi.json").json()["paths"].values())
    with browser.chromium(tmp_path / "profile", flags=browser.OFFLINE) as page:
        page.call("Network.enable")
        page.open(app_url + "/docs", width=1280, height=900)
        drawn = page.wait_for("document.querySelectorAll('.opblock').length", timeout=30)
        title = page.evaluate("document.querySelector('.info .title') && document.querySelector('.info .title')"
                              ".textContent")
        urls = page.requested_urls()
        errors = page.errors()
    assert drawn == operations, (drawn, operations)
    assert title and "skipcore" in title, title
    outside = [u for u in urls if not u.startswith((app_url, "data:"))]
    assert not outside, outside
    assert any("/static/swagger-ui/swagger-ui-bundle.js" in u for u in urls), urls
    assert not errors, errors


def test_the_offline_browser_cannot_reach_other_hosts(tmp_path):
    """The check above means something: with OFFLINE, a page that needs another host fails."""
    bad = tmp_path / "cdn.html"
    bad.write_text('<html><body><script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js">'
                   '</script></body></html>')
    with browser.chromium(tmp_path / "profile", flags=browser.OFFLINE) as page:
        page.open(bad.as_uri(), width=400, height=300)
        errors = page.errors()
    assert any("cdn.jsdelivr.net" in e for e in errors), errors

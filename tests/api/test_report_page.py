"""`api.report.render` on rows that carry markup: values from the database or the spec are escaped
exactly once by the template, and only the HTML the code produced (the stored sweep chart, a CI's
exponent) is inlined raw."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

from api import report

HOSTILE = '<script>alert("x")</script> & \'q\''
T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def _run(i: int, seed, **kw) -> report.RunRow:
    return report.RunRow(
        id=f"r{i}", index=i, seed=seed, params={"model.depth": 2, "note": HOSTILE}, status="succeeded", epoch=3,
        epochs=3, started_at=T0, finished_at=T0 + timedelta(seconds=30), error=kw.get("error"),
        finals={"val_loss": 1.0e9 + i * 2.0e7, "time_s": 30.0},
        figures=[("training", f"/v1/runs/r{i}/artifacts/figures/training.png?sig=a&b={HOSTILE}", {"svg": "/s?x=1&y=2"})])


def _page() -> str:
    runs = [_run(0, 0, error=HOSTILE), _run(1, 1), _run(2, 2)]
    return report.render(report.ReportPage(
        id="e1", name=HOSTILE, status="succeeded", created_at=T0, started_at=T0, finished_at=T0 + timedelta(minutes=5),
        error=HOSTILE, spec={"name": HOSTILE}, runs=runs, figure_runs=4,
        sweep_chart='<svg class="sweep"><text>val_loss</text></svg>'))


def _texts(page: str, pattern: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(pattern, page, re.S)]


def test_values_from_the_database_and_the_spec_are_escaped_exactly_once():
    page = _page()
    assert "<script" not in page and "&amp;lt;" not in page and "&amp;#" not in page
    assert _texts(page, r"<h1>(.*?)</h1>") == [HOSTILE]
    assert _texts(page, r"<title>(.*?) · skipcore report</title>") == [HOSTILE]
    assert _texts(page, r'<p class="err">(.*?)</p>') == [HOSTILE]
    assert _texts(page, r'<div class="err">(.*?)</div>') == [HOSTILE]  # the run's error in the runs table
    assert '"name": ' + repr(HOSTILE).replace("'", '"') not in page  # the spec is escaped too...
    spec = _texts(page, r"<pre>(.*?)</pre>")
    assert len(spec) == 1 and HOSTILE.replace('"', '\\"') in spec[0]  # ...and reads back as the JSON it was
    urls = _texts(page, r'<img src="([^"]+)"')
    assert urls == [f"/v1/runs/r{i}/artifacts/figures/training.png?sig=a&b={HOSTILE}" for i in range(3)]
    assert _texts(page, r'<a href="(/s[^"]*)">svg</a>') == ["/s?x=1&y=2"] * 3


def test_only_the_markup_the_code_produced_is_inlined_raw():
    page = _page()
    assert page.count('<svg class="sweep"><text>val_loss</text></svg>') == 1  # the stored chart, as stored
    cells = re.findall(r"<td>([^<]*(?:<sup>[^<]*</sup>)?)<div class=\"muted\">([^<]*<sup>[^<]*</sup>)</div></td>", page)
    assert cells, "a CI in units of 10^9 is written with a raw <sup> exponent"
    assert all("× 10<sup>" in pm and "× 10<sup>" in bounds for pm, bounds in cells), cells

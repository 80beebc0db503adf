"""The reproduction report script end to end, in seconds: `python -m reproduce --serve` starts a
real embedded `skipcore serve` (API + Celery worker, temporary home), runs one claim at `--scale
smoke`, writes the report, and stops the service. The report must hold the claim's section, numeric
means with 95% CIs, the verdict rule and a verdict, and a real (non-blank) PNG figure."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest

from tests import service

pytestmark = pytest.mark.slow

NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def test_reproduce_script_writes_a_report_for_one_claim_against_the_embedded_service(tmp_path):
    env = service.service_env(tmp_path)
    r = subprocess.run([sys.executable, "-m", "reproduce", "--serve", "--scale", "smoke", "--claims", "7",
                        "--out", str(tmp_path / "docs"), "--timeout", "120"],
                       env=env, cwd=service.ROOT, capture_output=True, text=True, timeout=170)
    assert r.returncode == 0, r.stderr[-3000:]
    text = (tmp_path / "docs" / "reproductions.md").read_text()
    assert "## Claim 7: L1 + skip-layer connections" in text
    assert "002_l1_skip_layer_linearity_small.json" in text
    assert "## How verdicts are decided" in text
    assert re.search(rf"\| {NUMBER} ± {NUMBER} \(95% CI \[{NUMBER}, {NUMBER}\], n=3\) \|", text), text
    verdicts = re.findall(r"\*\*Verdict: (reproduced|not reproduced|inconclusive|not decided at this scale)\*\* — "
                          r"\S", text)
    assert verdicts == ["not decided at this scale"], text  # smoke is below every seed's size
    assert "| # | seed | claim | scale | data | verdict |" in text
    assert re.search(r"\| 7 \| 002 \| .* \| reduced \| linear \+ noise, generated \| \*\*not decided at this scale\*\* \|",
                     text), text
    assert "leaned " in text and "| aspect | seed | ours | difference |" in text
    assert re.search(r"- (PASS|FAIL|UNCLEAR): ", text)
    figures = re.findall(r"!\[claim 7\]\(figures/([\w.]+\.png)\)", text)
    assert figures, text
    for name in figures:
        png = tmp_path / "docs" / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(str(png))
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels[..., :3].std() > 0.05  # not blank: bars, axes and text on white


def _counts(home) -> tuple[int, int]:
    with sqlite3.connect(home / "skipcore.db") as db:
        return (db.execute("SELECT count(*) FROM experiments").fetchone()[0],
                db.execute("SELECT count(*) FROM runs").fetchone()[0])


def test_reproduce_reuse_judges_a_kept_home_again_without_training(tmp_path):
    """`--home` keeps the embedded service's database; `--reuse` reads the experiments the first run
    wrote to experiments_<scale>.json back from it and writes the same report, submitting nothing."""
    env, home, out = service.service_env(tmp_path), tmp_path / "home", tmp_path / "docs"
    base = [sys.executable, "-m", "reproduce", "--serve", "--home", str(home), "--scale", "smoke",
            "--claims", "7", "--out", str(out), "--timeout", "120"]
    first = subprocess.run(base, env=env, cwd=service.ROOT, capture_output=True, text=True, timeout=170)
    assert first.returncode == 0, first.stderr[-3000:]
    ids = json.loads((out / "experiments_smoke.json").read_text())
    assert list(ids) == ["002_l1_skip_layer_linearity"]
    report = (out / "reproductions.md").read_text()
    before = _counts(home)
    assert before[0] == 1 and before[1] >= 3
    again = subprocess.run(base + ["--reuse", str(out / "experiments_smoke.json")], env=env, cwd=service.ROOT,
                           capture_output=True, text=True, timeout=170)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "read back 1 experiments" in again.stderr
    assert _counts(home) == before  # nothing submitted, nothing trained
    rows = lambda text: [ln for ln in text.splitlines() if ln.startswith("| 7 |") or ln.startswith("**Verdict")]
    assert rows((out / "reproductions.md").read_text()) == rows(report) != []


def test_reproduce_reuse_names_a_study_the_file_lacks(tmp_path):
    (tmp_path / "ids.json").write_text(json.dumps({"000_fig1_telescope_skip_ablation": "x"}))
    r = subprocess.run([sys.executable, "-m", "reproduce", "--url", "http://127.0.0.1:9", "--claims", "7",
                        "--reuse", str(tmp_path / "ids.json"), "--out", str(tmp_path)],
                       cwd=service.ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "002_l1_skip_layer_linearity" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "reproductions.md").exists()


def _processes_of(home: Path) -> list[int]:
    """Pids whose environment names `home` as SKIPCORE_HOME (the service and its worker children)."""
    want = f"SKIPCORE_HOME={home}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and want in (d / "environ").read_bytes().split(b"\0"):
                pids.append(int(d.name))
        except OSError:
            pass
    return pids


def test_sigterm_stops_the_served_service_too(tmp_path):
    """`kill` of `python -m reproduce --serve` mid-run leaves no API or worker process behind."""
    env, home, out = service.service_env(tmp_path), tmp_path / "home", tmp_path / "docs"
    proc = subprocess.Popen([sys.executable, "-m", "reproduce", "--serve", "--home", str(home), "--scale", "smoke",
                             "--claims", "7", "--out", str(out), "--timeout", "120"],
                            env=env, cwd=service.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "experiments_smoke.json").exists():  # submitted: the service and its worker run
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        assert _processes_of(home), "the served service should be running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while (left := _processes_of(home)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"left running after SIGTERM: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _processes_of(home):
            os.kill(pid, signal.SIGKILL)


def test_reproduce_rejects_an_unknown_claim_number(tmp_path):
    r = subprocess.run([sys.executable, "-m", "reproduce", "--claims", "99", "--out", str(tmp_path)],
                       cwd=service.ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "unknown claim number" in r.stderr
    assert not (tmp_path / "reproductions.md").exists()

"""The README works for someone who has only the clone: its tour runs as pasted against a real
`skipcore serve` (the poll shows each run's progress, the cancel steps meet runs that are still
going), no doc or script points outside the repository or at a developer's machine, and no file of
the repository speaks of the history of its making (ticket numbers, who worked on it and when)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests import service

pytestmark = pytest.mark.slow
README = service.ROOT / "README.md"
OUTSIDE = ("../" + "shared", "/" + "work/", "shared/" + "seeds")  # written in pieces: this file names none
CONTRACT = "CONTRACT" + ".md"  # the contract's old name: docs/api.md now
USER_FACING = ("README.md", "BENCHMARKS.md", "docs/", "cli/", "client/", "bench/", "scripts/", "examples/")


# each written in pieces, so this file matches none of them
HISTORY = re.compile("|".join([
    r"\bis" + r"sue\s*#?\d+", r"\btic" + r"ket\s*#?\d+", r"(?<![\w&])\(#\d+\)",  # ticket numbers
    r"\bwork(ing)? ses" + r"sions?\b", r"\b(this|that|a previous|an earlier|the last) ses" + r"sion\b",
    r"\b(the|an?|other|each|every|our) engi" + r"neers?\b", r"\bwork" + r"trees?\b", r"\bwa" + r"ve ?\d\b",
    r"\bdevelop" + r"ment (run|machine|box)\b", r"\bfiled" + r" by\b", r"/ho" + r"me/\w+",
    r"\bthis mach" + r"ine keeps\b",
]), re.IGNORECASE)
TEXT = (".md", ".py", ".sh", ".toml", ".txt", ".yml", ".json", ".html", ".js", ".css", ".ini", ".cfg", "")


def tracked_files() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=service.ROOT, capture_output=True, text=True).stdout.split()
    return tracked or [str(p.relative_to(service.ROOT)) for p in service.ROOT.rglob("*") if p.is_file()]


def tour() -> str:
    text = README.read_text()
    section = text.split("## A 60-second tour", 1)[1]
    return section.split("```bash", 1)[1].split("```", 1)[0]


def test_readme_tour_runs_as_pasted_and_its_cancels_meet_running_runs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with service.embedded(home) as url:
        port = url.rsplit(":", 1)[1]
        script = tour().replace("localhost:8000", f"localhost:{port}").replace(
            ".venv/bin/skipcore", f"{sys.executable} -m cli.main")
        env = service.service_env(tmp_path, url=url)
        env.pop("SKIPCORE_HOME")
        r = subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=service.ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert re.search(r"run [0-9a-f]{8} \w+ \{'epoch': \d+, 'epochs': 30", out), out  # the poll shows progress
    assert re.search(r"experiment [0-9a-f]{32}: succeeded", out), out  # watch waited for it
    assert '"val_loss"' in out and '"checkpoint.pt"' in out and "event: status" in out, out
    cancels = [ln for ln in out.splitlines() if ln in ("cancelled", "cancelling")]
    assert cancels[:2] == ["cancelled", "cancelling"] or cancels[:2] == ["cancelled", "cancelled"], out
    # a 409 answer says "already finished" (and its missing "status" is a Traceback in the pipe); a bare
    # "409" would also match inside hashes, signatures and numbers of the tour's output
    assert "already finished" not in out and "Traceback" not in r.stderr, out + r.stderr


def test_docs_and_scripts_point_nowhere_outside_the_repository():
    found = []
    for name in tracked_files():  # an exported tree without git: every file
        path = service.ROOT / name
        if path.suffix not in (".md", ".py", ".sh", ".toml", ".txt", ".yml", ".json", "") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        words = OUTSIDE + ((CONTRACT,) if name.startswith(USER_FACING) else ())
        found += [f"{name}: {word}" for word in words if word in text]
    assert not found, found
    links = re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", README.read_text())
    assert {"docs/api.md", "docs/spec.md", "docs/seeds.md"} <= set(links), links
    assert all((service.ROOT / link).is_file() for link in links), links


def test_no_file_of_the_repository_speaks_of_the_history_of_its_making():
    found = []
    for name in tracked_files():
        path = service.ROOT / name
        if path.suffix not in TEXT or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if m := HISTORY.search(line):
                found.append(f"{name}:{number}: {m.group(0)!r}")
    assert not found, found

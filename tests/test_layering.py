"""Import rules: the API and the spec never load torch; skipcore never loads service code;
the worker never loads FastAPI. Checked in fresh interpreters, so nothing else masks an import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.strip().split(",")}


@pytest.mark.parametrize("statement", [
    "import api.main; api.main.create_app",
    "import skipcore.spec; skipcore.spec.ExperimentSpec",
    "import skipcore",
    "import client",
    "import reproduce",
    "import skipcore.figures",  # the worker draws with it; torch stays out
    "import skipcore.charts, skipcore.stats",
    "import persistence.queue, persistence.repo.runs, persistence.repo.metrics",
])
def test_no_torch(statement):
    mods = loaded_after(statement)
    assert "torch" not in mods and "torchvision" not in mods


def test_worker_never_imports_fastapi():
    mods = loaded_after("import worker.tasks")
    assert "fastapi" not in mods and "api" not in mods


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_arrows_point_one_way():
    assert not _imports("skipcore") & {"fastapi", "celery", "sqlalchemy", "api", "worker", "persistence", "cli"}
    assert not _imports("persistence") & {"api", "worker", "cli", "torch", "fastapi"}
    assert not _imports("api") & {"worker", "torch", "torchvision", "cli"}
    assert not _imports("worker") & {"api", "fastapi", "cli"}
    assert not _imports("client") & {"api", "worker", "persistence", "skipcore", "torch", "matplotlib", "reproduce"}
    assert not _imports("reproduce") & {"api", "worker", "persistence", "skipcore", "torch", "cli"}


def test_the_client_library_loads_no_plotting_and_no_report_application():
    mods = loaded_after("import client")
    assert "matplotlib" not in mods and "reproduce" not in mods


def test_bench_and_the_service_helper_stand_apart_from_the_tests_and_the_service():
    assert "tests" not in _imports("bench")
    assert not _imports("servicekit") & {"api", "worker", "persistence", "skipcore", "cli", "client", "tests"}

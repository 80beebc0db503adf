"""docs/spec.md is the generator's current output (so it cannot drift from the spec's models), the
generator needs no torch, and every model family, data set and probe is there with each field."""

from __future__ import annotations

import subprocess
import sys

from tests import service

GENERATOR = service.ROOT / "scripts" / "gen_spec_reference.py"

COMPLETE = """
import runpy, sys
g = runpy.run_path(sys.argv[1])
text = g["render"]()
import skipcore.spec as s
missing = [v for v in (*s.FAMILIES, *s.DATASET_NAMES, *s.PROBE_NAMES) if f"### `{v}`" not in text]
discriminators = {"family", "name"}  # each variant's heading names it
missing += [f"{c}.{f}" for c, cls in g["model_classes"]().items() for f in cls.model_fields
            if f"| `{f}` |" not in text and not (f in discriminators and c != "ExperimentSpec")]
print("missing:", missing, "torch imported:", "torch" in sys.modules)
sys.exit(bool(missing) or "torch" in sys.modules)
"""


def test_committed_spec_reference_is_the_generators_current_output():
    r = subprocess.run([sys.executable, str(GENERATOR), "--check"], cwd=service.ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{r.stderr}(run `python scripts/gen_spec_reference.py` and commit docs/spec.md)"


def test_generator_imports_no_torch_and_lists_every_family_data_set_and_probe_with_each_field():
    r = subprocess.run([sys.executable, "-c", COMPLETE, str(GENERATOR)], cwd=service.ROOT, capture_output=True,
                       text=True, env=service.service_env(service.ROOT))
    assert r.returncode == 0, r.stdout + r.stderr

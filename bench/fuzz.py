"""The longer schemathesis run (CI runs tests/api/test_fuzz.py with 15 cases per operation):
every documented operation fuzzed with N cases, no 5xx, every response valid against its schema.

    python bench/fuzz.py [--examples 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="cases per operation")
    args = parser.parse_args()
    env = dict(os.environ, SKIPCORE_FUZZ_EXAMPLES=str(args.examples))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/api/test_fuzz.py"],
                       cwd=ROOT, env=env)
    print(f"schemathesis: {args.examples} cases per operation, exit {r.returncode}, {time.perf_counter() - t0:.0f}s")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())

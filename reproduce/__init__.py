"""The reproduction report (docs/reproductions.md): submit the claims' example specs to a running skipcore service,
wait for the runs, read the results back through the public HTTP API (`client`) and write
`docs/reproductions.md` with figures under `docs/figures/`.

    python -m reproduce --url http://127.0.0.1:8000 --scale small --out docs/ [--claims 1,3]
    python -m reproduce --serve --scale small --out docs/   # starts its own embedded service

No torch and no server imports: httpx (through `client`) and matplotlib only.
"""

from reproduce.main import main, run

__all__ = ["main", "run"]

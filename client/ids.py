"""Ids typed short: a unique prefix of an id stands for the whole id, as git and docker accept.

An exact id is looked up directly (one request); anything else is matched against the ids the
caller can see (experiments from the list endpoint, runs from each experiment's runs). No match
is a 404 `ApiError`; several are an `AmbiguousId` that names each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from client.errors import ApiError

if TYPE_CHECKING:  # pragma: no cover
    from client.client import Client

SHOWN = 5  # matches listed in an ambiguity message


class AmbiguousId(ApiError):
    """A prefix that starts several ids; `matches` holds (id, description) of each."""

    def __init__(self, kind: str, prefix: str, matches: list[tuple[str, str]]) -> None:
        listed = ", ".join(f"{i} ({what})" for i, what in matches[:SHOWN])
        more = f" and {len(matches) - SHOWN} more" if len(matches) > SHOWN else ""
        super().__init__(409, f"{kind} id {prefix!r} is ambiguous: it starts {len(matches)} ids: {listed}{more}; "
                              "type more characters")
        self.matches = matches


def _resolve(kind: str, prefix: str, exact: Callable[[str], object],
             candidates: Callable[[], Iterable[tuple[str, str]]]) -> str:
    prefix = prefix.strip()
    if not prefix:
        raise ApiError(400, f"an empty {kind} id")
    try:
        exact(prefix)
        return prefix
    except ApiError as exc:
        if exc.status != 404:
            raise
    matches = [(i, what) for i, what in candidates() if i.startswith(prefix)]
    if not matches:
        raise ApiError(404, f"{kind} {prefix!r} not found (no {kind} id starts with it)")
    if len(matches) > 1:
        raise AmbiguousId(kind, prefix, matches)
    return matches[0][0]


def experiment_id(c: "Client", prefix: str) -> str:
    """The id of the one experiment whose id is, or starts with, `prefix`."""
    return _resolve("experiment", prefix, c.get_experiment,
                    lambda: ((e.id, f"{e.name}, {e.status}") for e in c.list_experiments()))


def run_id(c: "Client", prefix: str) -> str:
    """The id of the one run whose id is, or starts with, `prefix` (runs of every visible experiment)."""
    return _resolve("run", prefix, c.get_run,
                    lambda: ((r.id, f"seed {r.seed} of {e.name}") for e in c.list_experiments() for r in e.runs))

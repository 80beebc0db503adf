"""Error answers: readable 422 field errors, 404/409/413/429, and 503 (not 500) while the
database is unreachable.

Every 422 body is `{"detail": [error...], "message": str}`; each error has our `field` and
`message` and FastAPI's conventional `loc`, `msg` and `type`, so generic FastAPI clients read it
too. Spec errors are reworded from pydantic's: an unknown key says which keys the section takes
(and "did you mean ..." when one is close), an unknown model family, data set or probe names the
ones that exist. The valid names are read from the spec's models (`api.spec_hints`).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, Iterable, Optional, Sequence

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from api import spec_hints
from api.spec_hints import TaggedUnion, keys_of, literal_values, path_text, suggest, walk

log = logging.getLogger("skipcore.api")

_SWEEP_POINT = re.compile(r"^sweep ([\w.]+)=")
_SOURCES = ("body", "query", "path", "header", "cookie")


class FieldProblem(Exception):
    """Raise from a route or dependency to answer 422 with these errors (`field`, `message`, `type`)."""

    def __init__(self, errors: list[dict[str, Any]], where: str = "query") -> None:
        super().__init__(errors)
        self.errors, self.where = errors, where


@lru_cache(maxsize=1)
def _tag_in_path() -> re.Pattern:
    tags = sorted(spec_hints.union_tags(), key=len, reverse=True)
    return re.compile(r"\.(" + "|".join(re.escape(t) for t in tags) + r")\.")


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _did_you_mean(word: Any, names: Sequence[str]) -> str:
    close = suggest(word, names) if isinstance(word, str) else None
    return f"; did you mean {close!r}?" if close else ""


def _reword(e: dict[str, Any], spec_loc: Sequence[Any]) -> tuple[list[Any], str]:
    """(field path, plain message) of one pydantic error at `spec_loc` inside the spec."""
    kind, ctx = e.get("type"), e.get("ctx") or {}
    msg = str(e.get("msg", "invalid"))
    place = walk(spec_loc)
    if kind == "extra_forbidden" and spec_loc:
        parent = walk(spec_loc[:-1])
        keys, key = keys_of(parent.node), spec_loc[-1]
        where = (path_text(parent.path) or "the spec") + (f", for {parent.tag}," if parent.tag else "")
        if keys:
            return place.path, f"unknown key {key!r}{_did_you_mean(key, keys)} ({where} takes: {_names(keys)})"
        return place.path, f"unknown key {key!r}"
    if isinstance(place.node, TaggedUnion) and kind in ("union_tag_invalid", "union_tag_not_found"):
        names = list(place.node.members)
        # how the union's members call themselves (`KIND` of the spec classes: "model family", ...)
        noun = getattr(next(iter(place.node.members.values())), "KIND", f"{path_text(place.path)} {place.node.key}")
        field = [*place.path, place.node.key]
        if kind == "union_tag_not_found":
            return field, f"{place.node.key!r} is missing: name the {noun}, one of: {_names(names)}"
        tag = ctx.get("tag")
        return field, f"unknown {noun} {tag!r}{_did_you_mean(tag, names)} (one of: {_names(names)})"
    if kind == "literal_error" and isinstance(e.get("input"), str):
        names = [str(v) for v in literal_values(place.node)]  # read from the spec, not from pydantic's message
        if names:
            return place.path, f"{e['input']!r} is not one of {_names(names)}{_did_you_mean(e['input'], names)}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return place.path, _tag_in_path().sub(".", msg)  # "model.telescope_mlp.depth" -> "model.depth"


def readable(errors: Iterable[dict[str, Any]], source: Optional[str] = None) -> list[dict[str, Any]]:
    """Our 422 entries from pydantic's errors. `source` prefixes `loc` ("body" for a spec validated
    by hand); a request's errors carry their source ("body", "query", ...) as the first part."""
    out = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if source is not None:
            loc = [source, *loc]
        prefix = loc[:1] if loc and loc[0] in _SOURCES else []
        rest = loc[len(prefix):]
        if prefix == ["body"]:
            path, msg = _reword(e, rest)
        else:
            path, msg = rest, str(e.get("msg", "invalid"))
        field = path_text(path if prefix == ["body"] else loc) or "body"
        if field == "body" and msg.startswith(("sweep", "seeds x sweep")):
            # a whole-spec check about the sweep: name the sweep key, not the body
            m = _SWEEP_POINT.match(msg)
            field = f"sweep.{m.group(1)}" if m else "sweep"
            path = field.split(".", 1)
        out.append({"field": field, "message": msg, "type": e.get("type"), "loc": [*prefix, *path], "msg": msg})
    return out


def _conventional(e: dict[str, Any], where: str) -> dict[str, Any]:
    """Add FastAPI's `loc` / `msg` / `type` to a hand-made entry with `field` and `message`."""
    if "loc" not in e:
        field = e.get("field", "")
        parts: list[Any] = [int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]", field) if p]
        e = {**e, "loc": parts if parts[:1] == [where] else [where, *parts]}
    return {"type": "value_error", **e, "msg": e.get("msg", e.get("message", ""))}


def unprocessable(errors: list[dict[str, Any]], where: str = "body") -> JSONResponse:
    """The 422 answer. `where`: the request part hand-made entries are about (body, query, path)."""
    errors = [_conventional(e, where) for e in errors]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return JSONResponse(status_code=422, content={"detail": errors, "message": summary})


def spec_error(exc: ValidationError) -> JSONResponse:
    return unprocessable(readable(exc.errors(), source="body"))


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(readable(exc.errors()))

    @app.exception_handler(FieldProblem)
    async def _field_problem(_: Request, exc: FieldProblem) -> JSONResponse:
        return unprocessable(exc.errors, where=exc.where)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(status_code=503, content={"detail": "database unavailable; retry shortly"},
                            headers={"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(status_code=503, content={"detail": "database connection lost; retry shortly"},
                                headers={"Retry-After": "5"})
        log.exception("database error")
        return JSONResponse(status_code=500, content={"detail": "internal database error"})


def not_found(what: str, id_: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} {id_!r} not found")


def unknown_name(what: str, name: str, names: Sequence[str], where: str = "") -> HTTPException:
    """404 for a name that does not exist, listing the ones that do (and the closest)."""
    known = sorted(names)
    listing = f"; {where} has: {_names(known)}" if known else f"; {where} has none yet"
    return HTTPException(status_code=404, detail=f"{what} {name!r} not found{_did_you_mean(name, known)}{listing}")

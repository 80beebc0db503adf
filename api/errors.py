"""Error answers: readable 422 field errors, 404/409/413/429, and 503 (not 500) while the
database is unreachable."""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("skipcore.api")

# pydantic puts the discriminator's tag in the location of a union member ("model.telescope_mlp.depth")
_TAGS = {"telescope_mlp", "plain_mlp", "resnet_mlp", "dense_skip_mlp", "skip_layer_mlp", "highway_mlp",
         "vanilla_cnn", "skip_cnn", "widened_cnn", "resnet_cnn", "densenet_cnn", "unet", "sine",
         "linear_plus_noise", "emnist_letters", "cifar10", "digits", "diabetes", "fake_images", "synthetic_segmentation",
         "weight_magnitude", "skip_ablation", "depth_error", "gradient_flow", "identity_ratio",
         "block_lesion", "loss_landscape", "l1_linearity", "function-after[_interval(), Sine]",
         "int", "constrained-int"}


def field_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for i, p in enumerate(loc):
        if p == "body" and i == 0:
            continue
        if isinstance(p, str) and (p in _TAGS or p.startswith(("function-", "constrained-"))):
            continue
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[") or "body"


_SWEEP_POINT = re.compile(r"^sweep ([\w.]+)=")
_TAG_IN_PATH = re.compile(r"\.(" + "|".join(re.escape(t) for t in sorted(_TAGS, key=len, reverse=True)) + r")\.")


def readable(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        msg = _TAG_IN_PATH.sub(".", msg)  # "model.telescope_mlp.depth" -> "model.depth"
        field = field_path(e.get("loc", ()))
        if field == "body" and msg.startswith(("sweep", "seeds x sweep")):
            # a whole-spec check about the sweep: name the sweep key, not the body
            m = _SWEEP_POINT.match(msg)
            field = f"sweep.{m.group(1)}" if m else "sweep"
        out.append({"field": field, "message": msg, "type": e.get("type")})
    return out


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return JSONResponse(status_code=422, content={"detail": errors, "message": summary})


def spec_error(exc: ValidationError) -> JSONResponse:
    return unprocessable(readable(exc.errors()))


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(readable(exc.errors()))

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

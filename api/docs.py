"""`/docs` (Swagger UI) and the page's static files, served from installed packages so the pages
work on a machine without internet: Swagger UI's JavaScript and CSS come from `swagger-ui-bundle`,
the front page's script from `api/static`. Nothing is fetched from elsewhere.

The packaged Swagger UI (4.x) reads OpenAPI 3.0 documents, and FastAPI writes 3.1: the page reads
`/docs/openapi.json`, the same document in 3.0 form (`as_openapi_30`: null in a union becomes
`nullable`, schema `examples` lists become one `example`, `const` an `enum`). `/openapi.json`
stays as FastAPI writes it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER = "/static/swagger-ui"
DOCS_OPENAPI = "/docs/openapi.json"
_NULL = {"type": "null"}
_DATA = frozenset({"example", "examples", "default", "enum", "const", "value"})  # values, not schemas


def _schema_30(node: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and _NULL in options:
            rest = [o for o in options if o != _NULL]
            node.pop(key)
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            elif rest:
                node["allOf" if len(rest) == 1 else key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        node["nullable"] = node.get("nullable", False) or len(types) < len(node["type"])
        node["type"] = types[0] if len(types) == 1 else "string"
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[plain], node[bound] = node[bound], True
    return node


def as_openapi_30(doc: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document `doc` in the 3.0 form Swagger UI 4 reads (a copy)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = _schema_30({k: v if k in _DATA else walk(v) for k, v in node.items()})
        elif isinstance(node, list):
            node = [walk(v) for v in node]
        return node

    out = walk(copy.deepcopy(doc))
    out["openapi"] = "3.0.3"
    return out


def install(app: FastAPI) -> None:
    app.mount(SWAGGER, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    cache: dict[str, Any] = {}

    @app.get(DOCS_OPENAPI, include_in_schema=False)
    def openapi_for_docs() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = as_openapi_30(app.openapi())
        return cache["doc"]

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=DOCS_OPENAPI,
            title=f"{app.title}: API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            # no badge from validator.swagger.io: it would send the document off the machine
            swagger_ui_parameters={"validatorUrl": None},
        )

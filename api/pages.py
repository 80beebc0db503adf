"""The one Jinja2 environment of the server-rendered pages (`api/templates/`): autoescaped, so every
value a template prints is HTML-escaped unless the code that produced it marked it safe."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

"""What the spec accepts at a place in it, read from the spec's own models (never a list kept here):
the keys a section takes, the names a discriminated union knows (model families, data sets,
probes), and the union tags pydantic puts in an error's location.

`walk(loc)` follows an error location through `ExperimentSpec`: model fields, list items, dict
values, and a discriminated union's member by its tag (a tag in the location is not part of the
field path). `suggest(word, names)` is the closest name, for "did you mean ...".
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Optional, Sequence, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from skipcore.spec import ExperimentSpec


@dataclass(frozen=True)
class TaggedUnion:
    """A discriminated union: its discriminator key and member model per tag."""

    key: str
    members: dict[str, type[BaseModel]]


@dataclass
class Place:
    node: Any  # a model class, a TaggedUnion, or another type
    path: list[Any]  # the location without union tags or pydantic's type labels
    tag: Optional[str] = None  # the last union member chosen on the way (e.g. a model family)


def _strip(tp: Any) -> tuple[Any, Optional[str]]:
    """Unwrap Annotated/Optional; return the type and a discriminator named in Annotated metadata."""
    disc = None
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp, *meta = typing.get_args(tp)
            disc = disc or next((m.discriminator for m in meta
                                 if isinstance(m, FieldInfo) and isinstance(m.discriminator, str)), None)
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp, disc


def _union(tp: Any, disc: Optional[str]) -> Any:
    """A TaggedUnion for a discriminated union of models, else the type unchanged."""
    args = typing.get_args(tp)
    if disc is None or typing.get_origin(tp) not in (Union, types.UnionType):
        return tp
    members = {}
    for member in args:
        member, _ = _strip(member)
        field = getattr(member, "model_fields", {}).get(disc)
        if field is None:
            continue
        for tag in typing.get_args(_strip(field.annotation)[0]):
            members[tag] = member
    return TaggedUnion(disc, members) if members else tp


def _field_node(model: type[BaseModel], name: str) -> Any:
    info = model.model_fields[name]
    tp, disc = _strip(info.annotation)
    return _union(tp, disc or (info.discriminator if isinstance(info.discriminator, str) else None))


def _child(node: Any, part: Any) -> tuple[Any, bool]:
    """The node under `node` at `part`, and whether `part` belongs in the field path."""
    if isinstance(node, TaggedUnion):
        if part in node.members:
            return node.members[part], False
        return None, True
    if isinstance(node, type) and issubclass(node, BaseModel):
        if isinstance(part, str) and part in node.model_fields:
            return _field_node(node, part), True
        return None, True
    origin, args = typing.get_origin(node), typing.get_args(node)
    if origin in (list, tuple, Sequence) and isinstance(part, int) and args:
        item, disc = _strip(args[0])
        return _union(item, disc), True
    if origin is dict and isinstance(part, str) and len(args) == 2:
        value, disc = _strip(args[1])
        return _union(value, disc), True
    if origin in (Union, types.UnionType) and isinstance(part, str):
        return None, False  # pydantic names the member it tried ("int", "function-after[...]")
    return None, True


def walk(loc: Iterable[Any]) -> Place:
    node: Any = ExperimentSpec
    place = Place(node, [])
    for part in loc:
        if node is None:
            place.path.append(part)
            continue
        if isinstance(node, TaggedUnion) and part in node.members:
            place.tag = part
        node, keep = _child(node, part)
        if keep:
            place.path.append(part)
    place.node = node
    return place


def keys_of(node: Any) -> list[str]:
    """The keys a section takes (for a union member, its discriminator too)."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def literal_values(node: Any) -> tuple[Any, ...]:
    """The values a Literal type allows (() for any other node)."""
    return typing.get_args(node) if typing.get_origin(node) is typing.Literal else ()


def suggest(word: Any, names: Sequence[str]) -> Optional[str]:
    close = difflib.get_close_matches(str(word), list(names), n=1, cutoff=0.6)
    return close[0] if close else None


@lru_cache(maxsize=1)
def union_tags() -> frozenset[str]:
    """Every tag of every discriminated union in the spec (they appear in pydantic's locations)."""
    tags: set[str] = set()
    seen: set[type] = set()

    def visit(node: Any) -> None:
        if isinstance(node, type):
            if node in seen:
                return
            seen.add(node)
        if isinstance(node, TaggedUnion):
            tags.update(node.members)
            for m in node.members.values():
                visit(m)
        elif isinstance(node, type) and issubclass(node, BaseModel):
            for name in node.model_fields:
                visit(_field_node(node, name))
        else:
            for arg in typing.get_args(node):
                stripped, disc = _strip(arg)
                visit(_union(stripped, disc))

    visit(ExperimentSpec)
    return frozenset(tags)


def path_text(path: Sequence[Any]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")

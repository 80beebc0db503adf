"""Write docs/spec.md, the reference of the experiment spec, from the spec's pydantic models.

    python scripts/gen_spec_reference.py            # rewrite docs/spec.md
    python scripts/gen_spec_reference.py --check    # exit 1 if docs/spec.md is not current
    python scripts/gen_spec_reference.py --stdout   # print it

Everything comes from `skipcore.spec`: the JSON Schema (types, ranges, descriptions), the models'
defaults, and the rules that refuse a model / data / probe combination. It imports pydantic and
`skipcore.spec` only (never torch), so it runs wherever the API runs.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Union, get_args, get_origin

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import skipcore.spec as spec  # noqa: E402 - after the path: run as a script from a clone

TARGET = ROOT / "docs" / "spec.md"
SECTIONS = (("model", "family", "Model families"), ("data", "name", "Data sets"), ("probes", "name", "Probes"))


def model_classes(root: type[BaseModel] = spec.ExperimentSpec) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from `root`'s fields, by class name (the JSON Schema's $defs names)."""
    found: dict[str, type[BaseModel]] = {}

    def walk(tp: Any) -> None:
        if inspect.isclass(tp) and issubclass(tp, BaseModel):
            if tp.__name__ not in found:
                found[tp.__name__] = tp
                for f in tp.model_fields.values():
                    walk(f.annotation)
            return
        for arg in get_args(tp):
            walk(arg)

    walk(root)
    return found


TOP_LEVEL = {  # said here because the top-level fields carry no description of their own
    "name": "a name for people; not unique",
    "description": "free text kept with the experiment",
    "model": "the network: an object whose `family` picks one of the model families below",
    "data": "the data set: an object whose `name` picks one of the data sets below",
    "train": "optimizer, learning rate, epochs, batch size (see train below)",
    "probes": "what to measure on the trained model: objects whose `name` picks one of the probes below",
    "seeds": "one run per seed (unique values)",
    "sweep": "`{\"model.depth\": [2, 3, 4]}`: one run per point of the grid (the product of the lists) and seed",
    "tags": "free labels, string to string",
}


def _type(prop: dict[str, Any]) -> str:
    if "discriminator" in prop:
        return f"object, by `{prop['discriminator']['propertyName']}`"
    if "const" in prop:
        return f"`{prop['const']!r}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f"object ([{name}](#{name.lower()}))"
    if "anyOf" in prop:
        parts = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(parts) + (" or null" if nullable else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}.get(kind, kind)


def _bounds(prop: dict[str, Any]) -> str:
    lo = (f"{prop['minimum']} ≤ " if "minimum" in prop else f"{prop['exclusiveMinimum']} < "
          if "exclusiveMinimum" in prop else "")
    hi = (f" ≤ {prop['maximum']}" if "maximum" in prop else f" < {prop['exclusiveMaximum']}"
          if "exclusiveMaximum" in prop else "")
    out = [f"{lo}x{hi}"] if lo or hi else []
    for key, unit in (("minLength", "length"), ("minItems", "items"), ("minProperties", "keys")):
        low_key = key.replace("min", "max")
        if key in prop or low_key in prop:
            out.append(f"{prop.get(key, 0)}-{prop.get(low_key, '∞')} {unit}")
    return "; ".join(out)


def _range(prop: dict[str, Any]) -> str:
    parts = [_bounds(prop)]
    for sub in prop.get("anyOf", []):
        parts.append(_bounds(sub))
        if sub.get("type") == "array":
            parts.append(_item_bounds(sub))
    if prop.get("type") == "array":
        parts.append(_item_bounds(prop))
    return "; ".join(p for p in parts if p) or ""


def _item_bounds(prop: dict[str, Any]) -> str:
    inner = _bounds(prop.get("items", {}))
    return f"each {inner}" if inner else ""


def _default(cls: type[BaseModel], name: str) -> str:
    field = cls.model_fields[name]
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, float) and value != int(value):
        value = float(f"{value:.6g}")
    return f"`{_json(value)}`"


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def field_table(name: str, schema: dict[str, Any], cls: type[BaseModel], skip: str = "") -> Iterator[str]:
    props = schema["$defs"][name]["properties"] if name in schema["$defs"] else schema["properties"]
    yield "| field | type | default | range | description |"
    yield "|---|---|---|---|---|"
    for key, prop in props.items():
        if key == skip:
            continue
        desc = prop.get("description", "") or (TOP_LEVEL.get(key, "") if name == "ExperimentSpec" else "")
        desc = desc.replace("|", "\\|").replace("\n", " ")
        yield f"| `{key}` | {_type(prop)} | {_default(cls, key)} | {_range(prop)} | {desc} |"


def _variants(schema: dict[str, Any], section: str) -> dict[str, str]:
    """value -> class name, in the order the spec lists them."""
    prop = schema["properties"][section]
    prop = prop.get("items", prop)
    by_ref = {ref: value for value, ref in prop["discriminator"]["mapping"].items()}
    return {by_ref[o["$ref"]]: o["$ref"].rsplit("/", 1)[1] for o in prop["oneOf"]}


def _works(family: str, data: str, probe: str = "") -> bool:
    probes = [SimpleNamespace(name=probe)] if probe else []
    fake = SimpleNamespace(model=SimpleNamespace(family=family), data=SimpleNamespace(name=data), probes=probes,
                           train=SimpleNamespace(skip_star=None))
    try:
        spec.check_combination(fake)
    except ValueError:
        return False
    return True


def combinations(schema: dict[str, Any]) -> Iterator[str]:
    families, datas = list(_variants(schema, "model")), list(_variants(schema, "data"))
    yield "## Which combinations work"
    yield ""
    yield ("A combination that cannot work is refused with a 422 when the experiment is submitted. "
           "Model family (rows) by data set (columns):")
    yield ""
    yield "| family | " + " | ".join(f"`{d}`" for d in datas) + " |"
    yield "|---|" + "---|" * len(datas)
    for f in families:
        yield f"| `{f}` | " + " | ".join("yes" if _works(f, d) else "-" for d in datas) + " |"
    yield ""
    yield "Probes that need a particular model family or data set (every other probe works with any):"
    yield ""
    yield "| probe | model families | data sets |"
    yield "|---|---|---|"
    for p in _variants(schema, "probes"):
        fams = [f for f in families if any(_works(f, d, p) for d in datas)]
        dats = [d for d in datas if any(_works(f, d, p) for f in families)]
        if len(fams) < len(families) or len(dats) < sum(any(_works(f, d) for f in families) for d in datas):
            yield f"| `{p}` | {', '.join(f'`{f}`' for f in fams)} | {', '.join(f'`{d}`' for d in dats)} |"
    yield ""
    yield (f"`train.skip_star` needs a model with switchable skips ("
           f"{', '.join(f'`{f}`' for f in sorted(spec.SWITCHABLE_SKIPS))}). `seeds` × `sweep` may expand to at "
           f"most {spec.MAX_RUNS} runs; a sweep key is a dotted path under `model.`, `data.` or `train.` with 1 to "
           f"{spec.MAX_SWEEP_VALUES} values, and every sweep point is validated when the experiment is submitted.")


def render() -> str:
    schema = spec.json_schema()
    classes = model_classes()
    out = ["# The experiment spec, field by field", "",
           "<!-- Generated by `python scripts/gen_spec_reference.py` from the spec's pydantic models: do not edit "
           "by hand; tests/test_spec_reference.py fails when this file is not current. -->", "",
           "The body of `POST /v1/experiments` (its JSON Schema is served at `/v1/schema/experiment`). Unknown "
           "keys are refused (422) at every level, and every number is range-checked.", "",
           "## Top level", "", *field_table("ExperimentSpec", schema, spec.ExperimentSpec), "",
           "Ids of the seed studies (\"seed 000\" ...) refer to [seeds.md](seeds.md).", ""]
    out += ["## train", "", *field_table("TrainParams", schema, classes["TrainParams"]), ""]
    for name in sorted(set(schema["$defs"]) - _variant_classes(schema) - {"TrainParams"}):
        out += [f"### {name}", "", _doc(classes[name]), "", *field_table(name, schema, classes[name]), ""]
    for section, key, title in SECTIONS:
        out += [f"## {title} (`{section}{'[]' if section == 'probes' else ''}.{key}`)", ""]
        for value, cls_name in _variants(schema, section).items():
            out += [f"### `{value}`", "", _doc(classes[cls_name]), ""]
            out += [*field_table(cls_name, schema, classes[cls_name], skip=key), ""]
    out += [*combinations(schema), ""]
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def _variant_classes(schema: dict[str, Any]) -> set[str]:
    return {c for section, _, _ in SECTIONS for c in _variants(schema, section).values()}


def _doc(cls: type[BaseModel]) -> str:
    """The class's docstring (a parent's when it has none of its own), on one line."""
    return " ".join((inspect.getdoc(cls) or "").split()) or "(no description)"


def main(argv: Union[list[str], None] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed file is not current")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = ap.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    elif args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is not current: run `python scripts/gen_spec_reference.py`",
                  file=sys.stderr)
            return 1
    else:
        TARGET.write_text(text)
        print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

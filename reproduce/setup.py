"""Each claim's set-up table: the seed's set-up, ours (read from the specs as submitted) and the
difference, one row per aspect, with the same formatting on both sides so "same" is a comparison."""

from __future__ import annotations

from typing import Any

NOT_STATED = "not stated"
ASPECTS = ("family", "block", "depth", "width", "widths", "activation", "init", "data", "n_train", "optimizer", "lr",
           "epochs", "batch_size", "seeds")


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        if len(v) > 6 and all(isinstance(x, int) for x in v) and list(v) == list(range(v[0], v[0] + len(v))):
            return f"{v[0]}..{v[-1]} (every one)"
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def ours(spec: dict[str, Any]) -> dict[str, Any]:
    """aspect -> value of one spec; a swept aspect gives the list of its values."""
    m, d, t, sw = spec["model"], spec["data"], spec["train"], spec.get("sweep") or {}
    out = {k: m.get(k) for k in ("family", "block", "depth", "width", "widths", "activation", "init")}
    out.update(data=d["name"], n_train=d.get("n_train"), optimizer=t["optimizer"], lr=t["lr"], epochs=t["epochs"],
               batch_size=t.get("batch_size") or "full batch", seeds=len(spec["seeds"]))
    for key, vals in sw.items():
        name = key.split(".", 1)[1]
        if name in out:
            out[name] = list(vals)
    return out


def rows(seed: dict[str, Any], specs: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(aspect, seed's, ours, difference) for every aspect the seed states or any spec sets."""
    per = [ours(s) for s in specs]
    out = []
    for a in ASPECTS:
        vals = [p[a] for p in per if p.get(a) is not None]
        if a not in seed and not vals:
            continue
        mine = list(dict.fromkeys(_fmt(v) for v in vals)) or ["—"]
        theirs = seed.get(a, NOT_STATED)
        if theirs == NOT_STATED:
            diff = "the seed does not say: ours is a choice"
        elif all(_fmt(theirs) == m for m in mine) or _fmt(theirs) == "; ".join(mine):
            diff = "same"
        elif vals and all(isinstance(v, list) and set(theirs if isinstance(theirs, list) else [theirs]) <= set(v)
                          for v in vals):
            diff = "the seed's, plus further arms"
        else:
            diff = "differs"
        out.append((a, _fmt(theirs), "; ".join(mine), diff))
    return out

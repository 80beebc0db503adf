"""What the run's probes want recorded during training, read from the probes' own declarations.

A probe module that records during training declares it with a module-level `RECORDS = Records(...)`
(the weight and gradient probes); each field names what the loop keeps, and where a number is
needed, the probe params field that holds it. The loop knows no probe names: `records_for(probes)`
merges the declarations of the run's probes into one `RecordPlan`. What the loop recorded reaches
the probes through `FitResult.records` (`{"first_updates": [...], "every": [...]}`, also in
checkpoints), handed over by `run_probe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Iterable, Optional


@dataclass(frozen=True)
class Records:
    """A probe's declaration of what it records during training.

    init: an epoch-0 record (validation values and `weight_mean_abs` of the initial weights).
    layers_every: params field N: layer statistics (`weight_mean_abs`, `grad_norm`) every N epochs.
    first_updates: params field K: each layer's weight-gradient norm at each of the first K
        updates, into `records["first_updates"]`.
    grad_norm_every: params field N: the epoch's `grad_norm` every N epochs, into `records["every"]`.
    """

    init: bool = False
    layers_every: Optional[str] = None
    first_updates: Optional[str] = None
    grad_norm_every: Optional[str] = None


@dataclass(frozen=True)
class RecordPlan:
    """The merged wants of a run's probes, in numbers."""

    init: bool = False
    layers_every: tuple[int, ...] = ()
    first_updates: int = 0
    grad_norm_every: tuple[int, ...] = ()

    def layers_at(self, epoch: int, train: Any) -> bool:
        """Layer statistics this epoch: every `log_every`, the last epoch, and every probe's `every`."""
        return (epoch % train.log_every == 0 or epoch == train.epochs
                or any(epoch % n == 0 for n in self.layers_every))

    def grad_norms_kept_at(self, epoch: int) -> bool:
        return any(epoch % n == 0 for n in self.grad_norm_every)


def declaration(name: str) -> Optional[Records]:
    """The `RECORDS` of probe `name`'s module (None: it records nothing during training)."""
    from skipcore.probes import probe

    return getattr(import_module(probe(name).__module__), "RECORDS", None)


def records_for(probes: Iterable[Any]) -> RecordPlan:
    """One plan for the run's probes (spec probe params)."""
    init, layers, first, grads = False, [], 0, []
    for params in probes:
        decl = declaration(params.name)
        if decl is None:
            continue
        init = init or decl.init
        if decl.layers_every:
            layers.append(getattr(params, decl.layers_every))
        if decl.first_updates:
            first = max(first, getattr(params, decl.first_updates))
        if decl.grad_norm_every:
            grads.append(getattr(params, decl.grad_norm_every))
    return RecordPlan(init, tuple(layers), first, tuple(grads))


def run_probe(params: Any, model: Any, data: Any, records: Optional[dict], init: Callable[[], Any]) -> dict:
    """`skipcore.probes.run_with_init` after training: a probe that declares RECORDS also gets what
    the loop recorded (`FitResult.records`) as `run(model, data, params, records=...)`."""
    from skipcore.probes import probe, run_with_init, wants_init

    if declaration(params.name) is None:
        return run_with_init(params, model, data, init)
    run = probe(params.name)
    out = run(model, data, params, records=records or {})
    if wants_init(params.name):
        out["at_init"] = run(init(), data, params, records={})
    return out

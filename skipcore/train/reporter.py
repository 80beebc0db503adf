"""The loop's only outlet: a Reporter with three hooks (metrics, checkpoint, should_stop).

The loop knows nothing of SQL or HTTP; the worker's DbReporter writes to the database, the
ListReporter below keeps everything in memory (tests, benchmarks, notebooks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, runtime_checkable

from skipcore.train import checkpoint as ckpt


@runtime_checkable
class Reporter(Protocol):
    def metrics(self, epoch: int, scalars: dict[str, float], layers: dict[str, list[float]]) -> None:
        """Once per epoch (epoch 0 = before training, when layer probes are on). `layers` maps a
        statistic ("weight_mean_abs", "grad_norm") to one float per `model.layer_names()` entry,
        and is empty on epochs without layer statistics."""

    def checkpoint(self, epoch: int, state: dict) -> None:
        """`state` (see skipcore.train.checkpoint) references live tensors: serialise it
        (`checkpoint.save(state)`) before returning, do not keep the dict."""

    def should_stop(self) -> Optional[str]:
        """A reason string stops the loop at the next check (epoch boundary or every 50 steps). At
        an epoch's end it is asked before that epoch's checkpoint, and a run that stops there is
        checkpointed whatever `checkpoint_every` says."""


class NullReporter:
    def metrics(self, epoch: int, scalars: dict[str, float], layers: dict[str, list[float]]) -> None:
        pass

    def checkpoint(self, epoch: int, state: dict) -> None:
        pass

    def should_stop(self) -> Optional[str]:
        return None


@dataclass
class ListReporter:
    """Keeps every metrics call and every checkpoint (as bytes) in memory.

    `stop_after`: return a stop reason once that many epochs have been reported (for tests).
    """

    stop_after: Optional[int] = None
    records: list[tuple[int, dict[str, float], dict[str, list[float]]]] = field(default_factory=list)
    checkpoints: dict[int, bytes] = field(default_factory=dict)

    def metrics(self, epoch: int, scalars: dict[str, float], layers: dict[str, list[float]]) -> None:
        self.records.append((epoch, dict(scalars), {k: list(v) for k, v in layers.items()}))

    def checkpoint(self, epoch: int, state: dict) -> None:
        self.checkpoints[epoch] = ckpt.save(state)

    def should_stop(self) -> Optional[str]:
        done = sum(1 for e, _, _ in self.records if e > 0)
        if self.stop_after is not None and done >= self.stop_after:
            return f"stop requested after {done} epochs"
        return None

    def history(self, key: str) -> list[float]:
        """The per-epoch values of one scalar, in order (epochs without it skipped)."""
        return [s[key] for _, s, _ in self.records if key in s]

    def layer_history(self, key: str) -> dict[int, list[float]]:
        return {e: layers[key] for e, _, layers in self.records if key in layers}

"""Training: the one loop (`fit`), the Reporter hooks, checkpoints and device choice."""

from skipcore.train.loop import FitResult, fit, seed_everything
from skipcore.train.reporter import ListReporter, NullReporter, Reporter

__all__ = ["FitResult", "ListReporter", "NullReporter", "Reporter", "fit", "seed_everything"]

"""The statistics the API answers with: `skipcore.stats` (pure Python, no torch), re-exported."""

from __future__ import annotations

from skipcore.stats import BOOKKEEPING, Summary, by_sweep_point, finite_number, summarize, summarize_columns, t975

__all__ = ["BOOKKEEPING", "Summary", "by_sweep_point", "finite_number", "summarize", "summarize_columns", "t975"]

"""Sweep history (an embedded SQLite database in the state folder), diffs between
sweeps, and what a report shows from history. Above the sweep record; renderers never
import it: they receive :class:`readiness.record.context.ReportContext`."""

from __future__ import annotations

from readiness.history.context import report_context
from readiness.history.diff import compare
from readiness.history.store import FILENAME, History, HistoryError, StoredSweep

__all__ = ["FILENAME", "History", "HistoryError", "StoredSweep", "compare", "report_context"]

"""``blockers.csv``: one row per blocker (root cause), for spreadsheets and owners'
trackers: who fixes what, for how many people, since when."""

from __future__ import annotations

import csv
import io

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions

COLUMNS = ("rank", "root_cause", "status", "check", "people", "results", "owner",
           "organisations", "needs", "summary", "impact", "fix", "first_seen_sweep",
           "days_open")  # fmt: skip


class BlockersCsvRenderer:
    name = "blockers-csv"
    description = "blockers.csv: one row per blocker: owner, people affected, fix, age"
    filename = "blockers.csv"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        ages = options.context.ages
        for rank, b in enumerate(record.blockers, 1):
            age = ages.get(b.root_cause)
            writer.writerow(
                (rank, b.root_cause, b.status.value, b.check, b.people, b.results, b.owner,
                 " ".join(b.organisations),
                 " ".join(f"{need}={n}" for need, n in sorted(b.needs.items())),
                 b.summary, b.impact, b.hint,
                 age.first_sweep if age else record.meta.sweep_id,
                 age.days_open(record.meta.finished_at) if age else 0)
            )  # fmt: skip
        return out.getvalue()


renderer = BlockersCsvRenderer()

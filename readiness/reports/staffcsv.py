"""``staff.csv``: one row per person in scope, answering "ready on Day 1? why not?".

For IT teams to sort and filter in a spreadsheet; the reasons are the summaries of
the fail/error results behind each verdict, worst first.
"""

from __future__ import annotations

import csv
import io

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions

COLUMNS = ("subject", "organisation", "id", "name", "site", "verdict", "problems", "checks",
           "why")
REASONS_SHOWN = 3


class StaffCsvRenderer:
    name = "csv"
    description = "staff.csv: one row per person, ready or not and why"
    filename = "staff.csv"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for person in record.people:
            reasons = record.results_of(person.reasons)
            checks = sorted({r.check for r in reasons})
            why = "; ".join(f"{r.status.value}: {r.summary}" for r in reasons[:REASONS_SHOWN])
            if len(reasons) > REASONS_SHOWN:
                why += f"; ... {len(reasons) - REASONS_SHOWN} more in results.json"
            writer.writerow((person.key, person.organisation, person.id, person.name,
                             person.site, person.verdict.value, len(reasons), " ".join(checks),
                             why))
        return out.getvalue()


renderer = StaffCsvRenderer()

"""``staff.csv``: one row per person in scope, answering "ready on Day 1? why not?".

For IT teams to sort and filter in a spreadsheet; the reasons are the summaries of
the fail/error results behind each verdict, worst first.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from readiness.sweep import SweepReport

COLUMNS = ("subject", "organisation", "id", "name", "site", "verdict", "problems", "checks",
           "why")


def write(report: SweepReport, out_dir: Path, reasons_shown: int = 3) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "staff.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for v in report.verdicts:
            person = v.person
            checks = sorted({r.check for r in v.reasons})
            why = "; ".join(f"{r.status.value}: {r.summary}" for r in v.reasons[:reasons_shown])
            if len(v.reasons) > reasons_shown:
                why += f"; ... {len(v.reasons) - reasons_shown} more in results.json"
            writer.writerow((person.key, person.organisation, person.id, person.name,
                             person.site, v.verdict.value, len(v.reasons), " ".join(checks), why))
    os.replace(tmp, path)
    return path

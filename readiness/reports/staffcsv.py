"""``staff.csv``: one row per person in scope, answering "ready on Day 1? why not? what
to do, and who does it?".

For IT teams and the service desk to sort and filter in a spreadsheet: each person is
named as people know them (name, username, mail, organisation, site); the reasons are
written for a service desk (each result's ``reason``, else its summary), fail and
error first, then the warnings of people who are ready but must do something first,
each with its fix and owner. The raw evidence stays in ``results.json``.

Written as UTF-8 with a byte-order mark, so spreadsheet programs show non-ASCII names
(Ní Bhriain, Müller) correctly; Python reads it with ``encoding="utf-8-sig"``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions
from readiness.results import Result

COLUMNS = (
    "subject",
    "organisation",
    "site",
    "id",
    "name",
    "username",
    "mail",
    "verdict",
    "problems",
    "warnings",
    "why",
    "fix",
    "owner",
    "checks",
)
REASONS_SHOWN = 3
BOM = "\ufeff"


class StaffCsvRenderer:
    name = "csv"
    description = "staff.csv: one row per person, ready or not, why, the fix and its owner"
    filename = "staff.csv"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        out = io.StringIO()
        out.write(BOM)
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for person in record.people:
            bad = record.results_of(person.reasons)
            warned = record.results_of(person.warnings)
            shown = [*bad, *warned]
            writer.writerow(
                (
                    person.key,
                    person.organisation,
                    person.site,
                    person.id,
                    person.name,
                    person.username,
                    person.mail,
                    person.verdict.value,
                    len(bad),
                    len(warned),
                    _why(shown),
                    _distinct(r.hint for r in shown[:REASONS_SHOWN]),
                    _distinct(r.owner for r in shown),
                    " ".join(sorted({r.check for r in shown})),
                )
            )
        return out.getvalue()


def _why(results: list[Result]) -> str:
    why = "; ".join(f"{r.status.value}: {r.plain}" for r in results[:REASONS_SHOWN])
    if len(results) > REASONS_SHOWN:
        why += f"; ... {len(results) - REASONS_SHOWN} more in results.json"
    return why


def _distinct(values: Iterable[str]) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


renderer = StaffCsvRenderer()

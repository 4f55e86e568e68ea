"""``results.json``: the documented, versioned machine format (docs/results-format.md),
which :meth:`readiness.record.SweepRecord.from_json` reads back unchanged."""

from __future__ import annotations

import json

from readiness.record.model import SweepRecord
from readiness.reports import RenderOptions


class JsonRenderer:
    name = "json"
    description = "results.json: every result, verdict, need and blocker (versioned)"
    filename = "results.json"

    def render(self, record: SweepRecord, options: RenderOptions) -> str:
        return json.dumps(record.to_json(), indent=1, ensure_ascii=False) + "\n"


renderer = JsonRenderer()

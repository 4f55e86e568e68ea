"""``results.json``: the documented, versioned machine format (docs/results-format.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from readiness.sweep import SweepReport


def write(report: SweepReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path

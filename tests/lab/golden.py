"""What a sweep finds, as comparable lines: every result's id, status and root cause,
and every person's verdict. The committed ``golden/demo-findings.tsv`` holds the demo
sweep's; a lab on another network slot is compared after its addresses are mapped back
to the default slot's.

    .venv/bin/python -m tests.lab.golden DIR/results.json \\
        > tests/lab/golden/demo-findings.tsv
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "demo-findings.tsv"
HEADER = """\
# What the demo sweep of the default lab (150 staff per organisation, seed 1) finds:
# every result (id, status, root cause) and every person's verdict, one per line.
# A change here is a change in what the product finds: deliberate, and reviewed.
# Regenerate: .venv/bin/python -m tests.lab.golden DIR/results.json \\
#   > tests/lab/golden/demo-findings.tsv
"""


def findings(data: Mapping[str, Any], rename: Mapping[str, str] | None = None) -> list[str]:
    """The sorted finding lines of a results.json document; ``rename`` maps address
    prefixes of another lab slot to the default slot's (e.g. ``127.101.`` -> ``127.77.``)."""
    lines = [f"result\t{r['id']}\t{r['status']}\t{r['root_cause']}" for r in data["results"]]
    lines += [f"verdict\t{p['subject']}\t{p['verdict']}" for p in data["staff"]]
    if rename:
        pattern = re.compile("|".join(re.escape(k) for k in sorted(rename, key=len, reverse=True)))
        lines = [pattern.sub(lambda m: rename[m.group(0)], line) for line in lines]
    return sorted(lines)


def golden() -> list[str]:
    return [
        line
        for line in GOLDEN.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    sys.stdout.write(HEADER + "\n".join(findings(data)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

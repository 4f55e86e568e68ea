"""Core benchmarks: start-up time of `readiness --help` and validation of large inventories.

Run: .venv/bin/python bench/core_bench.py [--staff 10000]
Prints wall times (best of N runs) for:
- `readiness --help` (target < 0.3 s: heavy libraries are imported lazily);
- `readiness validate` of an inventory of N staff from an HR CSV (target < 2 s for 10,000);
- the same N staff written inline in YAML.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READINESS = str(Path(sys.executable).with_name("readiness"))

HEAD = (
    """programme: {name: Benchmark merger, go_live: 2027-01-04}
organisations:
  north: {name: Northvale, mail_domains: {old: [northvale.test], new: valeshared.test}}
  south: {name: Southmere, mail_domains: {old: [southmere.test], new: valeshared.test}}
sites:
"""
    + "".join(f"  site{i}: {{organisation: {'north' if i % 2 else 'south'}}}\n" for i in range(20))
    + """
roles:
  clerk: {groups: [staff-all], mailbox: true}
  manager: {groups: [staff-all, managers], mailbox: true, extension: true}
"""
)


def person(i: int) -> dict[str, str]:
    org = "north" if i % 2 else "south"
    site = f"site{(i // 2) % 10 * 2 + (1 if org == 'north' else 0)}"
    return {
        "id": f"E{i:06d}",
        "organisation": org,
        "site": site,
        "roles": "clerk" if i % 7 else "clerk;manager",
        "name": f"Person Ñumber {i}",
        "username": f"user{i}",
        "new_mail": f"user{i}@valeshared.test",
        "old_mail": f"user{i}@{org}.test",
        "extension": str(100000 + i),
    }


def write_csv_inventory(folder: Path, staff: int) -> None:
    (folder / "programme.yaml").write_text(
        HEAD
        + """staff_sources:
  - file: hr.csv
    columns: {id: Id, organisation: Org, site: Site, roles: Roles, name: Name, username: Login,
              new_mail: NewMail, old_mail: OldMail, extension: Ext}
""",
        encoding="utf-8",
    )
    with (folder / "hr.csv").open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["Id", "Org", "Site", "Roles", "Name", "Login", "NewMail", "OldMail", "Ext"]
        )
        for i in range(staff):
            p = person(i)
            writer.writerow(
                [
                    p["id"],
                    p["organisation"],
                    p["site"],
                    p["roles"],
                    p["name"],
                    p["username"],
                    p["new_mail"],
                    p["old_mail"],
                    p["extension"],
                ]
            )


def write_yaml_inventory(folder: Path, staff: int) -> None:
    lines = [HEAD, "staff:\n"]
    for i in range(staff):
        p = person(i)
        roles = ", ".join(p["roles"].split(";"))
        lines.append(
            f"  - {{id: {p['id']}, organisation: {p['organisation']}, site: {p['site']}, "
            f"roles: [{roles}], name: {p['name']}, username: {p['username']}, "
            f"new_mail: {p['new_mail']}, old_mail: [{p['old_mail']}], "
            f"extension: '{p['extension']}'}}\n"
        )
    (folder / "inventory.yaml").write_text("".join(lines), encoding="utf-8")


def best(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr[-2000:]}")
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    low, median = best([READINESS, "--help"], args.runs * 2)
    print(f"readiness --help: best {low:.3f} s, median {median:.3f} s (target < 0.3 s)")
    with tempfile.TemporaryDirectory() as tmp:
        kinds = (("HR CSV", write_csv_inventory), ("inline YAML", write_yaml_inventory))
        for kind, writer in kinds:
            folder = Path(tmp) / kind.replace(" ", "-")
            folder.mkdir()
            writer(folder, args.staff)
            low, median = best([READINESS, "validate", str(folder)], args.runs)
            print(
                f"validate {args.staff:,} staff ({kind}): best {low:.3f} s, "
                f"median {median:.3f} s (target < 2 s)"
            )


if __name__ == "__main__":
    main()

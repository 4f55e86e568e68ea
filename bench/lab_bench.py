"""Benchmark: bring the lab up at N staff per organisation, sweep it, take it down.

    sudo .venv/bin/python bench/lab_bench.py [--staff 150] [--no-samba]

Prints the wall time of `readiness lab up`, of a full `readiness sweep` of the
inventory the lab wrote (every installed check family), and of `readiness lab down`,
and checks that nothing the lab started is left running. Uses its own state folder
and a free slot (`--slot auto`), so it runs next to other labs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READINESS = str(Path(sys.executable).with_name("readiness"))


def timed(argv: list[str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=150)
    parser.add_argument("--no-samba", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        state = Path(tmp) / "lab"
        up = [
            READINESS,
            "lab",
            "up",
            "--staff",
            str(args.staff),
            "--state",
            str(state),
            "--slot",
            "auto",
        ]
        if args.no_samba:
            up.append("--no-samba")
        try:
            t_up = timed(up)
            out = Path(tmp) / "out"
            t_sweep = timed(
                [
                    READINESS,
                    "sweep",
                    str(state / "inventory"),
                    "--secrets-dir",
                    str(state / "secrets"),
                    "--state-dir",
                    str(Path(tmp) / "st"),
                    "--out",
                    str(out),
                    "--no-progress",
                ],
                ok=(0, 1, 3),
            )
        finally:
            t_down = timed([READINESS, "lab", "down", "--state", str(state)])
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    staff = len(data["staff"])
    print(
        f"lab up, {args.staff:,} staff per organisation"
        f"{' (no Samba)' if args.no_samba else ''}: {t_up:.1f} s"
    )
    print(
        f"sweep of {staff:,} staff, {len(data['results']):,} results: {t_sweep:.1f} s "
        f"({data['staff_verdicts']})"
    )
    print(f"lab down: {t_down:.1f} s (nothing left running)")


if __name__ == "__main__":
    main()

"""Benchmark: the mail family over the lab's real Postfix and BIND at N staff per
organisation (each with a new and an old address: about 4N RCPTs).

    sudo .venv/bin/python bench/mail_bench.py [--staff 10000] [--runs 3]

Brings up the lab's DNS and mail only (``lab up --only dns,mail`` on a free slot, its
own state folder), loads the inventory the lab wrote, then plans and runs the mail
family as the engine does (``--runs`` times, each a fresh sweep: no DNS answer is
reused between runs) and reports the run's wall time, the SMTP sessions opened, the
RCPTs sent and the DNS queries asked, the results by status, and the CPU time the
sweep and Postfix spent (Postfix's own work per RCPT bounds the run on 2 cores: run
it on a quiet machine). Takes the lab down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from readiness.engine import make_plan, run_plan
from readiness.family import RunContext
from readiness.inventory import Selection, load
from readiness.net.dns import QUERIES
from readiness.registry import load_families
from readiness_checks.mail.people import STATS
from readiness_lab.mail import instance_pids

TICK = os.sysconf("SC_CLK_TCK")


def postfix_cpu(conf: Path) -> float:
    """CPU seconds used so far by the live processes of the lab's Postfix."""
    total = 0
    for pid in instance_pids(conf):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


READINESS = str(Path(sys.executable).with_name("readiness"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mail-bench-") as tmp:
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
            "--only",
            "dns,mail",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(up, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"lab up failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        print(
            f"lab up (dns, mail) at {args.staff} staff per organisation: "
            f"{time.perf_counter() - t0:.1f} s"
        )
        try:
            families = load_families()
            inventory = load(state / "inventory", families)
            for run in range(1, args.runs + 1):
                plan = make_plan(inventory, families, Selection(families=frozenset({"mail"})))
                ctx = RunContext(
                    inventory,
                    go_live=inventory.go_live,
                    clock=lambda: inventory.go_live,
                    secrets_dir=state / "secrets",
                    state_dir=Path(tmp) / "state",
                )
                QUERIES.reset()
                sessions, rcpts = STATS.sessions, STATS.rcpts
                conf = state / "postfix" / "etc"
                cpu, server_cpu = time.process_time(), postfix_cpu(conf)
                started = time.perf_counter()
                results = run_plan(plan, ctx)
                elapsed = time.perf_counter() - started
                cpu, server_cpu = time.process_time() - cpu, postfix_cpu(conf) - server_cpu
                ctx.close()
                statuses = Counter(r.status.value for r in results)
                people = sum(1 for p in plan.probes if p.check == "mail.rcpt-accepted")
                print(
                    f"run {run}: {elapsed:.2f} s, {len(plan.probes)} probes ({people} people), "
                    f"{len(results)} results {dict(sorted(statuses.items()))}, "
                    f"{STATS.sessions - sessions} SMTP sessions, {STATS.rcpts - rcpts} RCPTs, "
                    f"{QUERIES.total} DNS queries; "
                    f"CPU: sweep {cpu:.1f} s, Postfix {server_cpu:.1f} s"
                )
        finally:
            subprocess.run(
                [READINESS, "lab", "down", "--state", str(state)], capture_output=True, check=False
            )


if __name__ == "__main__":
    main()

"""Benchmark: the telephony family at N staff per organisation, every one with a phone.

    .venv/bin/python bench/telephony_bench.py [--staff 10000] [--read jsonrpc|options]

Starts kamailio (registrar and proxy, JSON-RPC ``ul.dump``; shared memory sized as
LAB-NOTES says) and SIPp as every phone (lab/sip.py) on a slot claimed for the run,
registers 2 x N extensions but ``--unregistered`` of them, writes an inventory (staff
from HR CSVs, both organisations' extension ranges, the registrar over UDP and TCP),
then plans and runs the telephony family through the engine and reports wall time of
plan and run, results by status, sockets (channels) opened and SIP transactions and
transmissions sent (the module's own counters), and peak RSS. Servers are stopped
by PID at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from readiness.engine import make_plan, run_plan
from readiness.family import RunContext
from readiness.inventory import Selection, load
from readiness_checks.telephony import family
from readiness_checks.telephony.sip import STATS
from readiness_lab import sip
from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot

ORGS = {"north": 20000, "south": 60000}  # organisation -> first extension of its range


def build(
    root: Path,
    slot: Slot,
    supervisor: Supervisor,
    staff: int,
    unregistered: int,
    read: str = "jsonrpc",
) -> tuple[Path, float]:
    """Start the servers and write the inventory; returns (inventory, seconds kamailio
    and the registrations took)."""
    numbers = {org: [str(first + i) for i in range(staff)] for org, first in ORGS.items()}
    everyone = [n for org in ORGS for n in numbers[org]]
    missing = set(everyone[:: max(1, len(everyone) // max(1, unregistered))][:unregistered])
    spec = sip.SipSpec(
        [sip.Extension(n, registered=n not in missing) for n in everyone],
        [],
        address=slot.sip,
        phones_address=slot.sip_phones,
        tls=False,
    )
    started = time.perf_counter()
    sip.start(spec, supervisor)
    seconds = time.perf_counter() - started
    inv = root / "inventory"
    (inv / "hr").mkdir(parents=True)
    go_live = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    lines = [
        f"programme: {{name: Telephony benchmark, go_live: {go_live}}}",
        "organisations:",
        *(
            f"  {org}: {{name: {org}, telephony: {{ranges: [{first}-{first + 9999}]}}}}"
            for org, first in ORGS.items()
        ),
        "sites:",
        *(f"  {org}-hq: {{organisation: {org}}}" for org in ORGS),
        "roles:",
        "  officer: {extension: true}",
        "telephony_endpoints:",
        "  registrar:",
        "    checked_from: central",
        "    sip:",
        "      kind: registrar",
        f"      host: {slot.sip}",
        "      transports: [udp, tcp]",
        "      registrations:",
        f"        read: {read}",
        f"        url: http://{slot.sip}:5080/RPC",
        "        domain: valeshared.test",
        "staff_sources:",
    ]
    for org in ORGS:
        rows = ["id,site,roles,extension"]
        rows += [
            f"{org[0].upper()}{i:05d},{org}-hq,officer,{n}" for i, n in enumerate(numbers[org])
        ]
        (inv / "hr" / f"{org}.csv").write_text("\n".join(rows) + "\n")
        lines += [
            f"  - file: hr/{org}.csv",
            f"    organisation: {org}",
            "    columns: {id: id, site: site, roles: roles, extension: extension}",
        ]
    (inv / "inventory.yaml").write_text("\n".join(lines) + "\n")
    return inv, seconds


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (and their threads) from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def server_pids(supervisor: Supervisor) -> list[int]:
    """kamailio (and the workers it forked) and every SIPp of the run."""
    leaders = [m.pid for m in supervisor.processes()]
    children = [
        int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) in leaders
    ]
    return leaders + children


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def sweep(inv: Path, state: Path, servers: list[int]) -> dict[str, object]:
    started = time.perf_counter()
    inventory = load(inv, [family])
    load_s = time.perf_counter() - started
    t0 = time.perf_counter()
    plan = make_plan(inventory, [family], Selection(), inventory.go_live)
    plan_s = time.perf_counter() - t0
    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inv,
        state_dir=state,
    )
    STATS.reset()
    t1, mine, theirs = time.perf_counter(), time.process_time(), cpu_seconds(servers)
    results = run_plan(plan, ctx)
    run_s = time.perf_counter() - t1
    mine, theirs = time.process_time() - mine, cpu_seconds(servers) - theirs
    ctx.close()
    statuses = Counter(f"{r.check} {r.status.value}" for r in results)
    bad = Counter(f"{r.check}: {r.observed[:120]}" for r in results if r.status.bad)
    return {
        "inventory_load_s": round(load_s, 3),
        "plan_s": round(plan_s, 3),
        "run_s": round(run_s, 3),
        "run_cpu_s_this_process": round(mine, 2),
        "run_cpu_s_kamailio_and_sipp": round(theirs, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "probes": len(plan.probes),
        "results": len(results),
        "by_check_and_status": dict(sorted(statuses.items())),
        "not_passed": dict(bad.most_common(5)),
        "sip_sockets": STATS.channels,
        "json_rpc_calls": 1,
        "sip_transactions": STATS.transactions,
        "sip_transmissions": STATS.transmissions,
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--staff", type=int, default=10_000, help="staff per organisation")
    parser.add_argument("--unregistered", type=int, default=50, help="extensions not registered")
    parser.add_argument("--runs", type=int, default=3, help="sweeps to time")
    parser.add_argument(
        "--read",
        choices=("jsonrpc", "options"),
        default="jsonrpc",
        help="how to read registrations",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="telephony-bench-") as tmp, claimed(Path(tmp)) as slot:
        root = Path(tmp)
        supervisor = Supervisor(root / "state")
        try:
            inv, registering = build(
                root, slot, supervisor, args.staff, args.unregistered, args.read
            )
            servers = server_pids(supervisor)
            runs = [sweep(inv, root / f"state-{i}", servers) for i in range(args.runs)]
        finally:
            sip.stop(supervisor)
    report = {
        "staff_per_organisation": args.staff,
        "extensions": 2 * args.staff,
        "read": args.read,
        "kamailio_up_and_registrations_s": round(registering, 1),
        "run_s_each": [r["run_s"] for r in runs],
        "cpu_s_each": [
            round(float(r["run_cpu_s_this_process"]) + float(r["run_cpu_s_kamailio_and_sipp"]), 2)  # type: ignore[arg-type]
            for r in runs
        ],
        **runs[-1],
    }
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the identity family over two real slapd directories of N staff each.

    .venv/bin/python bench/identity_bench.py [--staff 10000] [--pilots 5]

Starts one slapd per organisation (lab/slapd.py, on 127.N.1.10 / 127.N.2.10 of a
slot claimed for the run, so a running lab or test run is not disturbed),
bulk-loaded with N people (a few faults sprinkled in), writes an inventory
describing them, then runs the identity family's plan and run over every directory
(as the engine does: one batch per directory, batches in parallel threads) and
reports wall time, LDAP operations and peak memory (tracemalloc, Python
allocations) of the sweep. Servers are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from readiness.family import PlanContext, Probe, RunContext
from readiness.inventory import load
from readiness.registry import load_families
from readiness.results import Result
from readiness_checks.identity import IdentityFamily
from readiness_checks.identity.client import OPERATIONS
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor
from readiness_lab.slapd import PERMANENT_LOCK, DirectorySpec, GroupSpec, PersonSpec, start_slapd
from readiness_lab.slot import Slot

# organisation -> (third octet of its address, base DN, mail domain, staff id prefix)
ORGS = {
    "north": (1, "dc=northvale,dc=test", "northvale.test", "N"),
    "south": (2, "dc=southmere,dc=test", "southmere.test", "S"),
}
PILOT_PASSWORD = "Bench-Pilot-1"


def build(
    root: Path, slot: Slot, staff: int, pilots: int
) -> tuple[Path, Supervisor, dict[str, float]]:
    supervisor = Supervisor(root / "state")
    ca = LabCA(root / "state" / "ca")
    now = dt.datetime.now(dt.UTC)
    inv = root / "inventory"
    inv.mkdir()
    timings: dict[str, float] = {}
    lines = [
        "programme:",
        "  name: Identity benchmark",
        f"  go_live: {(now + dt.timedelta(days=30)).date().isoformat()}",
        "organisations:",
    ]
    for org, (_, _, domain, _) in ORGS.items():
        lines += [
            f"  {org}:",
            f"    name: {org}",
            f"    mail_domains: {{old: [{domain}], new: valeshared.test}}",
        ]
    lines += ["sites:"] + [f"  {org}-hq: {{organisation: {org}}}" for org in ORGS]
    lines += [
        "roles:",
        "  officer:",
        "    groups: [app-housing]",
        "    extension: true",
        "    mailbox: true",
        "directories:",
    ]
    staff_lines: list[str] = ["staff:"]
    for org, (octet, base, domain, prefix) in ORGS.items():
        host = slot.host(octet, 10)
        people = []
        for i in range(staff):
            uid = f"{org[0]}user{i:05d}"
            p = PersonSpec(
                uid=uid,
                given_name="Bench",
                sn=f"User {i}",
                password=PILOT_PASSWORD if i < pilots else f"pw{i}",
                mail=[f"{uid}@valeshared.test", f"{uid}@{domain}"],
                telephone_number=f"+44 20 7946 {i % 10000:04d}",
                employee_number=str(i),
            )
            if i % 97 == 5:
                p.locked_time = PERMANENT_LOCK
            if i % 89 == 7:
                p.pwd_reset = True
            people.append(p)
            staff_lines += [
                f"  - id: {prefix}{i:05d}",
                f"    organisation: {org}",
                f"    site: {org}-hq",
                "    roles: [officer]",
                f"    username: {uid}",
                f"    new_mail: {uid}@valeshared.test",
                f"    old_mail: [{uid}@{domain}]",
                f'    extension: "{i % 10000:04d}"',
            ]
            if i < pilots:
                staff_lines += ["    pilot: true", "    credential: file:pilot.secret"]
        members = [p.uid for i, p in enumerate(people) if i % 2 == 0]
        nested = [p.uid for i, p in enumerate(people) if i % 2 == 1 and i % 101 != 3]
        spec = DirectorySpec(
            org=f"bench-{org}",
            base_dn=base,
            host=host,
            dns_name=f"ldap.{domain}",
            people=people,
            groups=[
                GroupSpec("app-housing", members=members, member_groups=["team"]),
                GroupSpec("team", members=nested),
            ],
        )
        started = time.perf_counter()
        info = start_slapd(spec, supervisor, ca, root / "state")
        timings[f"slapd_{org}_total_s"] = time.perf_counter() - started
        timings[f"slapd_{org}_slapadd_s"] = info.load_seconds
        timings[f"slapd_{org}_start_s"] = info.start_seconds
        (inv / f"{org}.secret").write_text(info.service_password_file.read_text())
        lines += [
            f"  {org}-ldap:",
            "    kind: openldap",
            f"    organisations: [{org}]",
            f"    url: ldap://{host}:389",
            "    start_tls: true",
            f"    base_dn: {base}",
            f"    people_base: {info.people_base}",
            f"    groups_base: {info.groups_base}",
            f"    policies_base: {info.policies_base}",
            f"    bind_dn: {info.service_dn}",
            f"    bind_password: file:{org}.secret",
            f"    ca_bundle: {ca.cert_path}",
            f"    owner: {org} identity team",
            "    page_size: 1000",
        ]
    (inv / "pilot.secret").write_text(PILOT_PASSWORD)
    for f in inv.glob("*.secret"):
        f.chmod(0o600)
    (inv / "inventory.yaml").write_text("\n".join(lines + staff_lines) + "\n")
    return inv, supervisor, timings


def run_family(inv_dir: Path, state: Path, *, trace: bool = False) -> dict[str, object]:
    """One sweep of the identity family; ``trace`` measures Python peak memory
    (tracemalloc slows Python down several times, so timing runs go without it)."""
    started = time.perf_counter()
    inventory = load(inv_dir, load_families())
    load_s = time.perf_counter() - started
    fam = IdentityFamily()
    OPERATIONS.reset()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    probes = list(fam.plan(PlanContext(inventory, inventory.staff, inventory.go_live)))
    plan_s = time.perf_counter() - t0
    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inv_dir,
        state_dir=state,
    )
    batches: dict[str, list[Probe[Any]]] = {}
    for p in probes:
        batches.setdefault(p.batch, []).append(p)
    results: list[Result] = []
    lock = threading.Lock()

    def work(group: list[Probe[Any]]) -> None:
        out = list(fam.run(group, ctx))
        with lock:
            results.extend(out)

    t1 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(g,)) for g in batches.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_s = time.perf_counter() - t1
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    ctx.close()
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status.value] = by_status.get(r.status.value, 0) + 1
    ops = {f"{d}:{o}": n for (d, o), n in sorted(OPERATIONS.counts.items())}
    return {
        "inventory_load_s": round(load_s, 3),
        "plan_s": round(plan_s, 3),
        "run_s": round(run_s, 3),
        "plan_plus_run_s": round(plan_s + run_s, 3),
        "probes": len(probes),
        "results": len(results),
        "by_status": by_status,
        "ldap_operations": sum(OPERATIONS.counts.values()),
        "operations": ops,
        "peak_python_memory_mb": round(peak / 2**20, 1) if trace else None,
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--staff", type=int, default=10_000, help="staff per organisation")
    parser.add_argument("--pilots", type=int, default=5, help="pilot accounts per organisation")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="identity-bench-") as tmp, claimed(Path(tmp)) as slot:
        root = Path(tmp)
        supervisor: Supervisor | None = None
        try:
            inv, supervisor, timings = build(root, slot, args.staff, args.pilots)
            report: dict[str, object] = {
                "staff_per_organisation": args.staff,
                **{k: round(v, 3) for k, v in timings.items()},
            }
            timed = run_family(inv, root / "sweep-timed")
            traced = run_family(inv, root / "sweep-traced", trace=True)
            report.update(timed)
            report["peak_python_memory_mb"] = traced["peak_python_memory_mb"]
            report["run_s_under_tracemalloc"] = traced["run_s"]
        finally:
            if supervisor is not None:
                supervisor.stop()
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

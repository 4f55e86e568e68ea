"""Benchmark: the applications family at 10,000 staff per organisation, 20 sites, 10
applications.

    sudo .venv/bin/python bench/applications_bench.py [--staff 10000] [--sites 20]

A synthetic inventory against the lab's own servers, on a slot claimed for the run (a
running lab or test run is not disturbed): the lab's nginx (lab/web.py) serving ten of
the estate's applications with the lab's faults (an expired, a wrong-name, an
unknown-CA and an expiring certificate, a 503; a form login, an SSO redirect), the
lab's BIND (lab/dns.py), and one OpenSSH jump host per site (lab/ssh.py, on loopback
addresses: 20 sshd), each site's vantage point. Every site has staff needing every
application; 5 pilots per organisation log in for real. The application blocks are
those the lab writes (lab/writer.py).

Then the family's plan and run, as the engine does (one batch), with the counters of
what went over the wire: TLS handshakes and HTTP requests (each application once per
vantage point, whatever the number of staff; pilots once each), SSH connections, DNS
queries. Prints JSON; servers are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from readiness.family import PlanContext, RunContext
from readiness.inventory import load
from readiness.net.dns import QUERIES
from readiness.registry import load_families
from readiness_checks.applications import family as applications
from readiness_checks.applications.http import REQUESTS
from readiness_checks.applications.probe import HANDSHAKES
from readiness_lab import dns, ssh, web
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.estate import generate
from readiness_lab.faults import choose
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot
from readiness_lab.up import web_apps
from readiness_lab.writer import inventory_documents

APPS = 10
PILOTS = 5  # per organisation
PILOT_PASSWORD = "Bench-Pilot-1"


def start_servers(
    root: Path, slot: Slot, sites: int, pilots: list[str]
) -> tuple[Supervisor, dict[str, Any], ssh.SshLab]:
    """nginx with ten of the estate's applications, BIND, one jump host per site; returns
    the supervisor, the applications' inventory entries and the jump hosts."""
    sup = Supervisor(root / "state")
    ca = LabCA(root / "state" / "ca")
    estate = generate(150, 1, slot)
    plan = choose(estate)
    served = {a.id: a for a in web_apps(estate, plan) if a.address is None}
    apps = [a for a in estate.applications if a.id in served][:APPS]
    spec = web.WebSpec(
        [served[a.id] for a in apps],
        dict.fromkeys(pilots, PILOT_PASSWORD),
        address=slot.web,
        go_live=estate.go_live,
    )
    web.start(spec, sup, ca)
    dns.start(estate, plan, sup, root / "state", hosts=estate.hosts(namespaces=False))
    jumps = [ssh.JumpHost(f"site{i:02d}", slot.host(7, i), 2200 + i) for i in range(1, sites + 1)]
    lab = ssh.start(ssh.SshSpec(jumps), sup)
    written = yaml.safe_load(inventory_documents(estate)["applications.yaml"])["applications"]
    entries = {a.id: written[a.id] for a in apps}
    for entry in entries.values():
        entry["organisation"] = "north"  # its CA bundle: the lab CA
    return sup, entries, lab


def write_inventory(
    root: Path, slot: Slot, staff: int, sites: int, apps: dict[str, Any], lab: ssh.SshLab
) -> Path:
    inv = root / "inventory"
    (inv / "hr").mkdir(parents=True)
    (inv / "secrets").mkdir()
    (inv / "secrets" / "bench.key").write_text(lab.private_key.read_text())
    (inv / "secrets" / "pilot.pw").write_text(PILOT_PASSWORD)
    ca = root / "state" / "ca" / "ca.pem"
    orgs = ("north", "south")
    site_ids = [f"site{i:02d}" for i in range(1, sites + 1)]
    doc: dict[str, Any] = {
        "programme": {"name": "Applications benchmark", "go_live": "2027-01-04"},
        "organisations": {o: {"name": o, "ca_bundle": str(ca)} for o in orgs},
        "sites": {
            s: {
                "organisation": orgs[i % 2],
                "vantage_points": [f"{s}-jump"],
                "resolvers": [slot.dns],
            }
            for i, s in enumerate(site_ids)
        },
        "vantage_points": {
            f"{s}-jump": {
                "kind": "ssh",
                "host": address,
                "port": port,
                "user": lab.user,
                "key": "file:bench.key",
                "known_hosts": str(lab.known_hosts),
            }
            for s, (address, port) in sorted(lab.hosts.items())
        },
        "roles": {"officer": {"applications": sorted(apps)}},
        "applications": apps,
        "staff": [
            {
                "id": f"{o[0].upper()}P{n}",
                "organisation": o,
                "site": site_ids[orgs.index(o)],
                "roles": ["officer"],
                "username": f"{o}-pilot{n}",
                "pilot": True,
                "credential": "file:pilot.pw",
            }
            for o in orgs
            for n in range(PILOTS)
        ],
        "staff_sources": [
            {
                "file": f"hr/{o}.csv",
                "organisation": o,
                "columns": {c: c for c in ("id", "site", "roles", "username")},
            }
            for o in orgs
        ],
    }
    (inv / "inventory.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    for n, o in enumerate(orgs):
        own = site_ids[n::2]
        with (inv / "hr" / f"{o}.csv").open("w", newline="") as out:
            rows = csv.writer(out)
            rows.writerow(["id", "site", "roles", "username"])
            for i in range(staff):
                rows.writerow([f"{o[0].upper()}{i:05d}", own[i % len(own)], "officer", f"{o}{i}"])
    for secret in (inv / "secrets").iterdir():
        secret.chmod(0o600)
    return inv


def run_family(inv: Path, state: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    inventory = load(inv, load_families())
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    probes = list(applications.plan(PlanContext(inventory, inventory.staff, inventory.go_live)))
    plan_s = time.perf_counter() - t1
    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inv / "secrets",
        state_dir=state,
    )
    before = (HANDSHAKES.count, REQUESTS.count, QUERIES.total)
    cpu = time.process_time()
    t2 = time.perf_counter()
    results = list(applications.run(probes, ctx))
    run_s = time.perf_counter() - t2
    cpu_s = time.process_time() - cpu
    ctx.close()
    pairs = {(p.params.app, p.vantage) for p in probes if p.check != "http.pilot-login"}
    pilots = [p for p in probes if p.check == "http.pilot-login"]
    tried = [r for r in results if r.check == "http.pilot-login" and r.status.value != "skip"]
    return {
        "staff": len(inventory.staff),
        "sites": len(inventory.sites),
        "applications": len(inventory.applications),
        "inventory_load_s": round(load_s, 2),
        "plan_s": round(plan_s, 2),
        "run_s": round(run_s, 2),
        "run_cpu_s": round(cpu_s, 2),
        "probes": len(probes),
        "application_x_vantage_point": len(pairs),
        "pilot_logins_planned": len(pilots),
        "pilot_logins_tried": len(tried),
        "tls_handshakes": HANDSHAKES.count - before[0],
        "http_requests": REQUESTS.count - before[1],
        "dns_queries": QUERIES.total - before[2],
        "results": len(results),
        "by_status": dict(Counter(r.status.value for r in results)),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--staff", type=int, default=10_000, help="staff per organisation")
    parser.add_argument("--sites", type=int, default=20, help="sites, one jump host each")
    args = parser.parse_args(argv)
    pilots = [f"{o}-pilot{n}" for o in ("north", "south") for n in range(PILOTS)]
    with tempfile.TemporaryDirectory(prefix="apps-bench-") as tmp, claimed(Path(tmp)) as slot:
        root = Path(tmp)
        sup: Supervisor | None = None
        try:
            t0 = time.perf_counter()
            sup, apps, lab = start_servers(root, slot, args.sites, pilots)
            servers_s = time.perf_counter() - t0
            inv = write_inventory(root, slot, args.staff, args.sites, apps, lab)
            report: dict[str, object] = {"servers_start_s": round(servers_s, 2)}
            report.update(run_family(inv, root / "sweep"))
        finally:
            if sup is not None:
                dns.stop(sup, root / "state")  # and the address it added to lo
                sup.stop()
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

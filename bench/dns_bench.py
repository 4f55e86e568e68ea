"""DNS benchmark: resolve every host of a large two-organisation inventory.

Run: .venv/bin/python bench/dns_bench.py [--staff 10000] [--apps 40] [--resources 400]

Starts a real BIND (named, Debian bind9) on two free ports of 127.0.0.1,
authoritative for northvale.test, southmere.test and valeshared.test; writes an
inventory with ``--staff`` people per organisation (HR CSV), 20 sites (north's sites
use the first port as resolver, south's the second), applications and network resources
(5% of resource names are missing: NXDOMAIN); then plans and runs the ``dns``
family and, in the same sweep context, the ``network`` family's name resolution.
Prints wall times, probes, results by status and the DNS queries sent (counted
by readiness.net.dns and by BIND's query log). Stops named by PID.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from readiness.family import CheckFamily, PlanContext, Probe, RunContext
from readiness.inventory import load
from readiness.net import dns
from readiness.results import Result
from readiness_checks.dns import Lookup as DnsLookup
from readiness_checks.dns import family as dns_family
from readiness_checks.network import family as network_family
from readiness_lab.process import Supervisor, run, tcp_ready

ADDRESS = "127.0.0.1"  # two resolvers: two ports of one named
SITES = 20


def free_port(avoid: int = 0) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((ADDRESS, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((ADDRESS, port))
                except OSError:
                    continue
        if port != avoid:
            return port
    raise RuntimeError("no free port")


def zone(name: str, records: list[str]) -> str:
    return (
        f"$TTL 300\n@ IN SOA ns1.{name}. hostmaster.{name}. 1 3600 600 86400 300\n"
        f"@ IN NS ns1.{name}.\nns1 IN A 127.0.0.1\n" + "\n".join(records) + "\n"
    )


def build(base: Path, staff: int, apps: int, resources: int, ports: tuple[int, int]) -> Path:
    zones: dict[str, list[str]] = {
        "northvale.test": [],
        "southmere.test": [],
        "valeshared.test": [],
    }
    for i in range(apps):
        zones["valeshared.test"].append(f"app{i} IN CNAME web")
    zones["valeshared.test"].append("web IN A 127.0.0.1")
    res_lines = []
    for i in range(resources):
        org_zone = "northvale.test" if i % 2 else "southmere.test"
        site = f"site{i % SITES}"
        name = f"res{i}.{site}"
        if i % 20 != 7:  # 5% missing
            zones[org_zone].append(f"{name} IN A 127.0.{i // 250}.{i % 250 + 1}")
        res_lines.append(f"  res{i}: {{host: {name}.{org_zone}, port: 445}}")
    conf_zones = ""
    for name, records in zones.items():
        (base / f"{name}.zone").write_text(zone(name, records))
        conf_zones += f'zone "{name}" {{ type primary; file "{base}/{name}.zone"; }};\n'
    (base / "named.conf").write_text(f"""
options {{
    directory "{base}"; pid-file "{base}/named.pid"; session-keyfile "{base}/session.key";
    listen-on port {ports[0]} {{ {ADDRESS}; }}; listen-on port {ports[1]} {{ {ADDRESS}; }};
    listen-on-v6 {{ none; }};
    recursion no; querylog yes; dnssec-validation no; notify no;
}};
controls {{ }};
logging {{ channel q {{ file "{base}/query.log"; }}; category queries {{ q; }};
          channel m {{ file "{base}/named.log"; severity info; }}; category default {{ m; }}; }};
{conf_zones}""")
    inv = base / "inventory"
    inv.mkdir()
    sites = "".join(
        f"  site{i}: {{organisation: {'north' if i % 2 else 'south'}, "
        f'resolvers: ["{ADDRESS}:{ports[i % 2]}"]}}\n'
        for i in range(SITES)
    )
    roles = "".join(
        f"  role{r}: {{applications: [{', '.join(f'app{a}' for a in range(r, apps, 10))}], "
        f"network_resources: [{', '.join(f'res{x}' for x in range(r, resources, 25))}]}}\n"
        for r in range(10)
    )
    app_lines = "\n".join(
        f'  app{i}: {{url: "https://app{i}.valeshared.test/"}}' for i in range(apps)
    )
    (inv / "inventory.yaml").write_text(f"""
programme: {{name: DNS benchmark, go_live: 2027-01-04, resolvers: ["{ADDRESS}:{ports[0]}"]}}
organisations:
  north: {{name: Northvale}}
  south: {{name: Southmere}}
sites:
{sites}roles:
{roles}applications:
{app_lines}
network_resources:
{chr(10).join(res_lines)}
staff_sources:
  - file: staff.csv
    list_separator: ";"
    columns: {{id: id, organisation: organisation, site: site, roles: roles}}
""")
    with (inv / "staff.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "organisation", "site", "roles"])
        for i in range(staff * 2):
            org = i % 2
            site_no = (i // 2) % (SITES // 2) * 2 + org
            writer.writerow(
                [
                    f"E{i:06d}",
                    "north" if org else "south",
                    f"site{site_no}",
                    f"role{i % 10};role{(i // 10) % 10}",
                ]
            )
    return inv


def run_family(fam: CheckFamily[Any], probes: list[Probe[Any]], ctx: RunContext) -> list[Result]:
    batches: dict[str, list[Probe[Any]]] = {}
    for probe in probes:
        batches.setdefault(probe.batch or probe.id, []).append(probe)
    results: list[Result] = []
    for batch in batches.values():
        results.extend(fam.run(batch, ctx))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=10_000, help="staff per organisation")
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--resources", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dns-bench-") as tmp:
        base = Path(tmp)
        first = free_port()
        ports = (first, free_port(avoid=first))
        inv_dir = build(base, args.staff, args.apps, args.resources, ports)
        run(["named-checkconf", str(base / "named.conf")])
        supervisor = Supervisor(base / "state")
        supervisor.start(
            "named",
            ["named", "-f", "-4", "-u", "root", "-n", "2", "-c", str(base / "named.conf")],
            ready=tcp_ready(ADDRESS, ports[1]),
            ready_timeout=30,
        )
        try:
            t0 = time.perf_counter()
            inventory = load(inv_dir, [dns_family, network_family])
            t_load = time.perf_counter() - t0
            go_live = inventory.go_live
            ctx = RunContext(
                inventory,
                go_live=go_live,
                clock=lambda: dt.datetime.now(dt.UTC),
                secrets_dir=inv_dir,
                state_dir=base / "state",
            )
            dns.QUERIES.reset()
            t0 = time.perf_counter()
            families: list[CheckFamily[Any]] = [dns_family, network_family]
            probes = list(
                dns_family.plan(PlanContext(inventory, inventory.staff, go_live, families))
            )
            t_plan = time.perf_counter() - t0
            t0 = time.perf_counter()
            results = run_family(dns_family, probes, ctx)
            t_run = time.perf_counter() - t0
            sent_dns = dns.QUERIES.total
            t0 = time.perf_counter()
            net_probes = list(
                network_family.plan(PlanContext(inventory, inventory.staff, go_live, families))
            )
            unique = {(p.params.host, r, p.vantage) for p in net_probes for r in p.params.resolvers}
            for host, resolver, vantage in sorted(unique):
                ctx.dns.lookup(host, resolver, vantage)
            t_net = time.perf_counter() - t0
            time.sleep(0.5)
            logged = sum(
                1 for line in (base / "query.log").read_text().splitlines() if "query:" in line
            )
        finally:
            supervisor.stop()
    names = {p.params.host for p in probes if isinstance(p.params, DnsLookup)}
    print(
        f"inventory: {args.staff:,} staff per organisation, {SITES} sites, "
        f"{args.apps} applications, {args.resources} network resources"
    )
    print(f"load + validate: {t_load:.2f} s")
    print(f"dns plan: {t_plan:.2f} s, {len(probes):,} probes ({len(names)} names)")
    print(
        f"dns run: {t_run:.2f} s, {len(results):,} results "
        f"{dict(sorted(Counter(r.status.value for r in results).items()))}"
    )
    print(f"dns queries sent: {sent_dns:,} (core DNS counter)")
    print(
        f"network family name resolution afterwards: {t_net:.3f} s, "
        f"{dns.QUERIES.total - sent_dns} new queries (shared per sweep)"
    )
    print(f"queries logged by BIND: {logged:,}")
    print(f"total dns wall time (plan + run): {t_plan + t_run:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

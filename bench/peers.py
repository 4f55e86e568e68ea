"""Benchmark: the sweep against what IT teams script today, on the same lab and workload.

    sudo .venv/bin/python bench/peers.py [--staff 1000] [--parallel 8] [--lab STATE]

Brings up the lab (``--slot auto``; or uses a running one with ``--lab``), then gives
three approaches the same per-person workload, every person of the inventory:

* an identity lookup (the person's entry in the directory that holds their Day-1
  account: the shared AD for migrated staff, else their organisation's OpenLDAP),
* a mailbox RCPT (their new address, at the lab's Postfix),
* a DNS lookup (the name of an application they need, at the lab's BIND),
* an application GET (that application over HTTPS, certificate verified with the
  lab's CA),
* a TCP reach (a network resource they need, from their site when the site has a
  network of its own).

(a) monitoring-plugins from Debian: ``check_ldap``, ``check_smtp``, ``check_dig``,
``check_curl``, ``check_tcp``, one process per check (through ``sh -c``, as a
monitoring system runs a command line), ``xargs -P`` in parallel; the TCP check runs
in the site's network namespace (``ip netns exec``: a probe placed at the site). The
plugins connect by address (the lab's names are not in the system's resolver), so
``check_ldap`` runs with ``LDAPTLS_REQCERT=never`` and ``check_curl`` with ``-I``.
(b) prometheus-blackbox-exporter from Debian, started here on a loopback address of
the lab's slot and stopped by PID, asked through ``/probe`` by parallel HTTP clients.
It has no LDAP prober (a TCP/TLS connect to the directory stands for the lookup), one
module per mailbox (a TCP dialogue up to ``RCPT TO``) and probes from the host only.
(c) ``readiness sweep`` of the whole inventory, every family (far more than the
workload above: every check of every person).

Prints the wall times, their ratios, the checks run, and how many of the lab's
injected faults (``ground-truth.json``) each approach detects: a fault counts for a
peer when one of its checks about the fault's subject (the person for identity and
mail, the application, the resource) failed; for the sweep when a result with the
fault's id prefix has the fault's status (as tests/lab/test_lab.py judges it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from whole_sweep import READINESS, run, sweep_once

from readiness.inventory import load
from readiness.inventory.models import Staff
from readiness.registry import load_families

PLUGINS = Path("/usr/lib/nagios/plugins")
EXPORTER = "/usr/bin/prometheus-blackbox-exporter"
EXPORTER_PORT = 9115
FAMILY_OF = {
    "ldap": "identity",
    "smtp": "mail",
    "dns": "dns",
    "http": "applications",
    "tcp": "network",
}


@dataclass(frozen=True)
class Task:
    """One check of the workload, as each peer runs it."""

    kind: str  # ldap, smtp, dns, http, tcp
    subject: str  # what a failure says is wrong: the person, the application, the resource
    plugin: list[str]  # the monitoring-plugins command line
    module: str  # the blackbox_exporter module
    target: str  # the blackbox_exporter target


@dataclass
class Lab:
    state: Path
    slot: int
    hosts: dict[str, str]
    dns: str
    smtp: str
    ca: Path


def lab_of(state: Path) -> Lab:
    facts = json.loads((state / "lab-facts.json").read_text("utf-8"))
    slot = json.loads((state / "lab.json").read_text("utf-8"))["slot"]
    return Lab(
        state,
        slot,
        facts["dns"]["hosts"],
        facts["dns"]["server"].rpartition(":")[0],
        facts["mail"]["smtp"],
        state / "ca" / "ca.pem",
    )


def host_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]


Module = dict[str, Any]


def _ldap(person: Staff, directories: dict[str, Any], lab: Lab) -> tuple[Task, str, Module]:
    """The lookup in the directory holding the Day-1 account (the shared AD for migrated
    staff, else the organisation's OpenLDAP): the entry must exist (``-C 1:``)."""
    shared = [
        d
        for d in directories.values()
        if d["kind"] == "ad" and set(d.get("staff_tags", ())) & set(person.tags)
    ]
    d = (
        shared
        or [
            d
            for d in directories.values()
            if d["kind"] != "ad" and person.organisation in d.get("organisations", ())
        ]
    )[0]
    address, ldaps = lab.hosts[host_of(d["url"])], d["url"].startswith("ldaps")
    port = "636" if ldaps else "389"
    secret = (lab.state / "secrets" / d["bind_password"].removeprefix("file:")).read_text()
    wanted = (
        f"(userPrincipalName={person.upn})" if d["kind"] == "ad" else (f"(uid={person.username})")
    )
    plugin = [str(PLUGINS / "check_ldap"), "-H", address, "-p", port, "-3"]
    plugin += ["-b", d["people_base"], "-a", wanted, "-D", d["bind_dn"], "-P", secret.strip()]
    plugin += ["-C", "1:", "-S" if ldaps else "-T"]
    # blackbox_exporter has no LDAP prober: a TCP (LDAPS: TLS) connect stands for it.
    module: Module = {"prober": "tcp", "timeout": "5s"}
    if ldaps:
        module["tcp"] = {"tls": True, "tls_config": {"insecure_skip_verify": True}}
    name = "ldaps" if ldaps else "ldap"
    return Task("ldap", person.key, plugin, name, f"{address}:{port}"), name, module


def _smtp(person: Staff, n: int, lab: Lab) -> tuple[Task, str, Module]:
    """RCPT of the person's new address; one blackbox module per address."""
    host, port = lab.smtp.split(":")
    rcpt = f"RCPT TO:<{person.new_mail}>"
    plugin = [str(PLUGINS / "check_smtp"), "-H", host, "-p", port]
    plugin += ["-C", "MAIL FROM:<>", "-R", "250", "-C", rcpt, "-R", "250"]
    dialogue = [
        {"expect": "^220"},
        {"send": "EHLO peers.test"},
        {"expect": "^250 "},
        {"send": "MAIL FROM:<>"},
        {"expect": "^250"},
        {"send": rcpt},
        {"expect": "^250"},
        {"send": "QUIT"},
    ]
    module: Module = {"prober": "tcp", "timeout": "5s", "tcp": {"query_response": dialogue}}
    name = f"rcpt_{n}"
    return Task("smtp", person.key, plugin, name, lab.smtp), name, module


def _dns(app: str, name: str, lab: Lab) -> tuple[Task, str, Module]:
    plugin = [str(PLUGINS / "check_dig"), "-H", lab.dns, "-l", name, "-T", "A"]
    module: Module = {
        "prober": "dns",
        "timeout": "5s",
        "dns": {
            "query_name": name,
            "query_type": "A",
            "transport_protocol": "udp",
            "valid_rcodes": ["NOERROR"],
            "validate_answer_rrs": {"fail_if_not_matches_regexp": [".*"]},
        },
    }
    task = Task("dns", f"applications:{app}", plugin, f"dns_{app}", f"{lab.dns}:53")
    return task, f"dns_{app}", module


def _http(app: str, name: str, lab: Lab) -> tuple[Task, str, Module]:
    """GET / over HTTPS, the certificate verified against the lab's CA."""
    address = lab.hosts[name]
    plugin = [str(PLUGINS / "check_curl"), "-H", name, "-I", address, "-S", "--sni", "-u", "/"]
    plugin += ["-D", "--ca-cert", str(lab.ca)]
    module: Module = {
        "prober": "http",
        "timeout": "5s",
        "http": {
            "method": "GET",
            "headers": {"Host": name},
            "tls_config": {"ca_file": str(lab.ca), "server_name": name},
        },
    }
    task = Task("http", f"applications:{app}", plugin, f"http_{app}", f"https://{address}/")
    return task, f"http_{app}", module


def _tcp(resource: str, address: str, port: int, namespace: str | None) -> tuple[Task, str, Module]:
    """A TCP connect; monitoring-plugins from the site's namespace when it has one."""
    plugin = [str(PLUGINS / "check_tcp"), "-H", address, "-p", str(port), "-t", "5"]
    if namespace:
        plugin = ["ip", "netns", "exec", namespace, *plugin]
    module: Module = {"prober": "tcp", "timeout": "5s"}
    return (
        Task("tcp", f"network_resources:{resource}", plugin, "tcp", f"{address}:{port}"),
        "tcp",
        module,
    )


def tasks(lab: Lab) -> tuple[list[Task], dict[str, Module]]:
    """The workload, and the blackbox_exporter modules it needs."""
    inventory = load(lab.state / "inventory", load_families())
    raw = yaml.safe_load((lab.state / "inventory" / "directories.yaml").read_text("utf-8"))
    directories: dict[str, Any] = raw["directories"]
    apps = {k: host_of(str(a.url)) for k, a in inventory.applications.items() if a.url}
    resources = {k: (r.host, r.port) for k, r in inventory.network_resources.items()}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    namespaces = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    work: list[Task] = []
    modules: dict[str, Module] = {}
    for n, person in enumerate(inventory.staff):
        made = [_ldap(person, directories, lab)] if person.username or person.upn else []
        if person.new_mail:
            made.append(_smtp(person, n, lab))
        needs = inventory.needs(person).keys
        wanted = sorted(k.partition(":")[2] for k in needs if k.startswith("application:"))
        if wanted:
            app = wanted[n % len(wanted)]
            made += [_dns(app, apps[app], lab), _http(app, apps[app], lab)]
        wanted = sorted(k.partition(":")[2] for k in needs if k.startswith("network_resource:"))
        if wanted:
            res = wanted[n % len(wanted)]
            host, port = resources[res]
            ns = f"rl{lab.slot}-{person.site}"
            made.append(_tcp(res, lab.hosts[host], port, ns if ns in namespaces else None))
        for task, name, module in made:
            work.append(task)
            modules[name] = module
    return work, modules


def monitoring_plugins(work: list[Task], parallel: int, tmp: Path) -> tuple[float, list[bool]]:
    """Every check as its own process, ``xargs -P``; wall time and which checks failed."""
    lines = tmp / "checks.txt"
    lines.write_text(
        "".join(
            f'{shlex.join(t.plugin)} >/dev/null 2>&1; echo "$? {i}"\n' for i, t in enumerate(work)
        ),
        "utf-8",
    )
    env = {**os.environ, "LDAPTLS_CACERT": str(tmp / "ca.pem"), "LDAPTLS_REQCERT": "never"}
    started = time.perf_counter()
    proc = subprocess.run(
        ["xargs", "-P", str(parallel), "-d", "\n", "-n", "1", "sh", "-c"],
        stdin=lines.open("rb"),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    failed = [True] * len(work)
    for line in proc.stdout.splitlines():
        code, _, index = line.partition(" ")
        failed[int(index)] = code != "0"
    return wall, failed


def blackbox(
    work: list[Task], modules: dict[str, Any], lab: Lab, parallel: int, tmp: Path
) -> tuple[float, list[bool]]:
    """blackbox_exporter on 127.<slot>.0.115 (loopback only), asked through /probe."""
    config = tmp / "blackbox.yml"
    config.write_text(yaml.safe_dump({"modules": modules}), "utf-8")
    listen = f"127.{lab.slot}.0.115:{EXPORTER_PORT}"
    log = (tmp / "blackbox.log").open("wb")
    exporter = subprocess.Popen(
        [EXPORTER, f"--config.file={config}", f"--web.listen-address={listen}", "--log.level=warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{listen}/metrics", timeout=2).read()
                break
            except OSError:
                if exporter.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"blackbox_exporter did not start: {config}") from None
                time.sleep(0.1)

        def probe(task: Task) -> bool:
            url = f"http://{listen}/probe?module={task.module}&target={task.target}"
            body = urllib.request.urlopen(url, timeout=30).read().decode()
            return "\nprobe_success 1" not in "\n" + body

        started = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            failed = list(pool.map(probe, work))
        return time.perf_counter() - started, failed
    finally:
        exporter.terminate()
        try:
            exporter.wait(10)
        except subprocess.TimeoutExpired:
            exporter.kill()
            exporter.wait()


def detected_by_peer(faults: list[dict[str, Any]], work: list[Task], failed: list[bool]) -> int:
    flagged = {(FAMILY_OF[t.kind], t.subject) for t, bad in zip(work, failed, strict=True) if bad}
    return sum(1 for f in faults if (f["family"], f["subject"]) in flagged)


def detected_by_sweep(faults: list[dict[str, Any]], results: list[dict[str, Any]]) -> int:
    found = {("|".join(r["id"].split("|")[:2]), r["status"]) for r in results}
    return sum(1 for f in faults if (f["result_prefix"], f["status"]) in found)


def lab_up(staff: int, tmp: Path) -> Path:
    state = tmp / "lab"
    run([READINESS, "lab", "up", "--staff", str(staff), "--state", str(state), "--slot", "auto"])
    return state


def measured(state: Path, parallel: int, tmp: Path) -> Iterator[str]:
    lab = lab_of(state)
    (tmp / "ca.pem").write_bytes(lab.ca.read_bytes())
    work, modules = tasks(lab)
    faults = json.loads((state / "ground-truth.json").read_text("utf-8"))["faults"]
    by_kind = Counter(t.kind for t in work)
    people = len({t.subject for t in work if t.kind == "ldap"})
    yield (
        f"lab slot {lab.slot}: {people:,} people, {len(work):,} checks "
        f"({', '.join(f'{k} {n:,}' for k, n in sorted(by_kind.items()))}), "
        f"{len(faults)} injected faults; load average {os.getloadavg()[0]:.1f}"
    )
    sweep = sweep_once(state, tmp, "peers")
    results = json.loads((tmp / "out-peers" / "results.json").read_text("utf-8"))["results"]
    mp_wall, mp_failed = monitoring_plugins(work, parallel, tmp)
    bb_wall, bb_failed = blackbox(work, modules, lab, parallel, tmp)
    rows = [
        (
            "readiness sweep (every family)",
            sweep.wall_s,
            len(results),
            detected_by_sweep(faults, results),
            sum(1 for r in results if r["status"] != "pass"),
        ),
        (
            f"monitoring-plugins, xargs -P {parallel}",
            mp_wall,
            len(work),
            detected_by_peer(faults, work, mp_failed),
            sum(mp_failed),
        ),
        (
            f"blackbox_exporter /probe, {parallel} clients",
            bb_wall,
            len(work),
            detected_by_peer(faults, work, bb_failed),
            sum(bb_failed),
        ),
    ]
    yield f"{'approach':<40} {'wall s':>7} {'vs sweep':>9} {'checks':>8} {'flagged':>8} found"
    for name, wall, checks, found, flagged in rows:
        yield (
            f"{name:<40} {wall:7.1f} {wall / sweep.wall_s:8.1f}x {checks:8,} {flagged:8,} "
            f"{found}/{len(faults)}"
        )
    yield f"load average after: {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=8, help="xargs -P and HTTP clients")
    parser.add_argument("--lab", type=Path, help="use this running lab's state folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as name:
        tmp = Path(name)
        state = args.lab or lab_up(args.staff, tmp)
        try:
            for line in measured(state, args.parallel, tmp):
                print(line, flush=True)
        finally:
            if not args.lab:
                run([READINESS, "lab", "down", "--state", str(state)])


if __name__ == "__main__":
    main()

"""The lab against the real servers: DNS faults seen with dig, every process up,
the inventory it wrote valid, and `lab down` leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from readiness.registry import load_families
from readiness_lab import claim, sip
from readiness_lab import up as lab_up
from readiness_lab.faults import DMARC_MISSING, SPF_MISSING_SHARED, observed
from readiness_lab.gateway import twin
from readiness_lab.process import alive
from readiness_lab.pytest_fixtures import LabHandle

pytestmark = [pytest.mark.integration, pytest.mark.lab]

READINESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "readiness"


def dig(lab: LabHandle, *args: str, server: str | None = None, netns: str | None = None) -> str:
    """dig against the lab's own DNS server (or ``server``), from ``netns`` if given."""
    argv = ["dig", f"@{server or lab.slot.dns}", "+time=2", "+tries=1", *args]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def status_of(answer: str) -> str:
    return answer.split("status: ", 1)[1].split(",", 1)[0]


def test_domain_without_dmarc(lab: LabHandle) -> None:
    broken = {f.subject.removeprefix("mail_domains:") for f in lab.plan.of_kind(DMARC_MISSING)}
    assert broken
    for org in lab.estate.organisations:
        answer = dig(lab, "TXT", f"_dmarc.{org.domain}")
        if org.domain in broken:
            assert status_of(answer) == "NXDOMAIN", answer
        else:
            assert status_of(answer) == "NOERROR"
            assert "v=DMARC1" in dig(lab, "+short", "TXT", f"_dmarc.{org.domain}")
    assert "p=reject" in dig(lab, "+short", "TXT", "_dmarc.valeshared.test")


def test_spf_missing_the_shared_mail_server(lab: LabHandle) -> None:
    broken = {f.subject.removeprefix("mail_domains:") for f in lab.plan.of_kind(SPF_MISSING_SHARED)}
    assert broken
    for org in lab.estate.organisations:
        spf = [t for t in dig(lab, "+short", "TXT", org.domain).splitlines() if "v=spf1" in t]
        assert len(spf) == 1, "exactly one SPF record"
        assert ("a:mail.valeshared.test" in spf[0]) is (org.domain not in broken), spf


def test_records_of_the_address_plan(lab: LabHandle) -> None:
    for name, address in lab.estate.hosts(
        namespaces=lab.report is None or lab.report.namespaces
    ).items():
        if name.startswith(("files.", "printers.", "records.", "jump.")):
            continue  # their addresses depend on the namespaces/fallback
        assert dig(lab, "+short", "A", name).strip() == address, name
    for domain in ("valeshared.test", "northvale.test", "southmere.test"):
        assert dig(lab, "+short", "MX", domain).strip() == "10 mail.valeshared.test."
    assert "5060 sip.valeshared.test." in dig(lab, "+short", "SRV", "_sip._udp.valeshared.test")
    sips = dig(lab, "+short", "SRV", "_sips._tcp.valeshared.test")
    assert ("5061 sip.valeshared.test." in sips) is sip.tls_available()
    ldap = dig(lab, "+short", "SRV", "_ldap._tcp.ad.valeshared.test")
    assert "389 dc1.ad.valeshared.test." in ldap
    assert "v=DKIM1" in dig(lab, "+short", "TXT", "vale2026._domainkey.valeshared.test")
    assert "mail.valeshared.test" in dig(lab, "+short", "CNAME", "autodiscover.valeshared.test")


def test_sites_resolve_shared_services_to_reachable_twins(lab: LabHandle) -> None:
    if lab.report is not None and not lab.report.namespaces:
        pytest.fail("this machine could not create network namespaces: the lab fell back")
    slot = lab.slot
    answer = dig(
        lab,
        "+short",
        "A",
        "housing.valeshared.test",
        server=slot.dns_site,
        netns=lab.estate.site("north-hq").namespace,
    ).strip()
    assert answer == twin(slot.web, slot) == slot.site(104, 10)
    south = lab.estate.site("south-hq").namespace
    assert south == slot.site_ns("south-hq")
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            south,
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            str(lab.ca_bundle),
            "--resolve",
            f"intranet.valeshared.test:443:{answer}",
            "https://intranet.valeshared.test/health",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_every_process_runs_and_status_says_so(lab: LabHandle) -> None:
    rows = lab_up.status(lab.state)
    names = {r[0] for r in rows}
    for expected in ("named", "slapd-north", "slapd-south", "nginx", "postfix", "kamailio"):
        assert expected in names
    assert all(r[2] for r in rows), [r for r in rows if not r[2]]


def test_written_inventory_validates_with_the_cli(lab: LabHandle) -> None:
    out = subprocess.run(
        [str(READINESS), "validate", str(lab.inventory), "--secrets-dir", str(lab.secrets_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (lab.state / "ground-truth.json").exists()
    for path in (lab.secrets_dir).rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o077 == 0, path


def test_a_sweep_finds_exactly_the_injected_faults(lab: LabHandle, tmp_path: Path) -> None:
    """The ground truth is the truth: every injected fault of an installed family is
    reported (with its expected status), and nothing else fails, errors or warns."""
    out = subprocess.run(
        [
            str(READINESS),
            "sweep",
            str(lab.inventory),
            "--secrets-dir",
            str(lab.secrets_dir),
            "--state-dir",
            str(tmp_path / "state"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (1, 3), out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    results = data["results"] if isinstance(data, dict) else data
    installed = {f.name for f in load_families()}
    seen = observed(lab.plan, results)
    missed = [
        f"{f.kind} {f.result_prefix}"
        for f, hits in seen.items()
        if f.family in installed and not hits
    ]
    assert not missed, f"injected but not reported: {missed}"
    prefixes = {f.result_prefix for f in lab.plan.faults}
    unexpected = [
        f"{r['status']} {r['id']}: {r.get('observed') or r['summary']}"
        for r in results
        if r["status"] in ("fail", "error", "warn")
        and "|".join(r["id"].split("|")[:2]) not in prefixes
    ]
    assert not unexpected, "reported but not injected:\n" + "\n".join(unexpected[:20])


def _leftovers(lab: LabHandle, pids: list[int]) -> list[str]:
    """What of this lab is still on the machine: processes, and its slot's namespaces,
    routes, loopback addresses, nftables tables and claim."""
    found = [f"pid {p}" for p in pids if alive(p)]
    marker = str(lab.state).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if (marker in cmdline or marker in environ) and int(proc.name) != os.getpid():
            argv = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {argv}")
    slot = lab.slot

    def shown(*argv: str) -> list[str]:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()

    found += [
        f"namespace {line.split()[0]}"
        for line in shown("ip", "netns", "list")
        if line.startswith(f"{slot.prefix}-")
    ]
    found += [f"route {line}" for line in shown("ip", "route") if f"10.{slot.number}." in line]
    found += [
        f"address {line}"
        for line in shown("ip", "-4", "addr", "show", "lo")
        if f" 127.{slot.number}." in line
    ]
    found += [
        f"nftables {line}"
        for line in shown("nft", "list", "tables")
        if line.split()[-1].startswith(f"{slot.prefix}_")
    ]
    if claim.holder(slot.number) is not None:
        found.append(f"the claim of slot {slot.number}")
    return found


def test_down_leaves_nothing_then_up_again(lab: LabHandle) -> None:
    if lab.report is None:
        pytest.fail("READINESS_LAB_STATE labs are not torn down by the tests")
    pids = [m[1] for m in lab_up.status(lab.state)]
    assert pids
    t0 = time.perf_counter()
    lab_up.down(lab.state)
    seconds = time.perf_counter() - t0
    assert _leftovers(lab, pids) == []
    assert seconds < 30
    # Bring it back for the tests that follow (same state folder and slot: secrets and
    # addresses are kept).
    report = lab_up.up(lab.options)
    assert report.ok, [c for c in report.components if c.status == "failed"]
    assert report.slot == lab.slot.number
    lab.report = report

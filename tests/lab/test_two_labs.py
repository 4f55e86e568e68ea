"""Two labs on one machine: a second, small lab brought up with `lab up --slot auto`
next to the session's lab answers on its own addresses, the slot it got cannot be
taken by a third, and its `lab down` leaves the session's lab running as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from readiness_lab import claim
from readiness_lab import up as lab_up
from readiness_lab.estate import Estate, generate
from readiness_lab.gateway import twin
from readiness_lab.pytest_fixtures import LabHandle
from readiness_lab.slot import Slot

pytestmark = [pytest.mark.integration, pytest.mark.lab]

READINESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "readiness"


def readiness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(READINESS), *args], capture_output=True, text=True, check=False, timeout=120
    )


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30).stdout


def answers(estate: Estate, state: Path) -> None:
    """The lab of ``estate`` answers on its own addresses: DNS, a directory, the web
    front, and a site's resolver inside its own namespace."""
    slot = estate.slot
    north = estate.org("north")
    assert (
        run("dig", f"@{slot.dns}", "+short", "+time=2", "+tries=1", "A", north.ldap_host).strip()
        == north.ldap_ip
    )
    root_dse = run(
        "ldapsearch",
        "-x",
        "-LLL",
        "-H",
        f"ldap://{north.ldap_ip}",
        "-s",
        "base",
        "-b",
        "",
        "namingContexts",
    )
    assert f"namingContexts: {north.base_dn}" in root_dse, root_dse
    health = run(
        "curl",
        "-sS",
        "--max-time",
        "5",
        "--cacert",
        str(state / "ca" / "ca.pem"),
        "--resolve",
        f"intranet.valeshared.test:443:{slot.web}",
        "https://intranet.valeshared.test/health",
    )
    assert "ok" in health
    site = estate.site("north-hq").namespace
    assert site is not None
    seen = run(
        "ip",
        "netns",
        "exec",
        site,
        "dig",
        f"@{slot.dns_site}",
        "+short",
        "+time=2",
        "+tries=1",
        "A",
        "intranet.valeshared.test",
    ).strip()
    assert seen == twin(slot.web, slot), seen


def network_of(slot: Slot) -> list[str]:
    """The slot's namespaces, host routes and claim, as the machine shows them."""
    found = [
        line.split()[0]
        for line in run("ip", "netns", "list").splitlines()
        if line.startswith(f"{slot.prefix}-")
    ]
    found += [
        line.strip() for line in run("ip", "route").splitlines() if f"10.{slot.number}." in line
    ]
    if claim.holder(slot.number) is not None:
        found.append(f"claim of slot {slot.number}")
    return sorted(found)


def test_a_second_lab_on_another_slot(lab: LabHandle, tmp_path: Path) -> None:
    state = tmp_path / "second"
    before = network_of(lab.slot)
    assert f"claim of slot {lab.slot.number}" in before
    up = readiness(
        "lab", "up", "--slot", "auto", "--staff", "10", "--no-samba", "--state", str(state)
    )
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        slot = Slot(json.loads((state / "lab.json").read_text())["slot"])
        assert slot != lab.slot and slot.number in claim.AUTO
        status = readiness("lab", "status", "--state", str(state)).stdout
        assert f"{slot.loopback_range} on the host, {slot.site_range} for the sites" in status
        second = generate(10, 1, slot)
        answers(second, state)
        answers(lab.estate, lab.state)
        # Its slot is taken: a third lab asking for it is refused and starts nothing.
        third = readiness(
            "lab",
            "up",
            "--slot",
            str(slot.number),
            "--only",
            "dns",
            "--staff",
            "10",
            "--state",
            str(tmp_path / "third"),
        )
        assert third.returncode == 1
        assert f"slot {slot.number} is in use by the lab in {state}" in third.stderr
    finally:
        down = readiness("lab", "down", "--state", str(state))
    assert down.returncode == 0, down.stdout + down.stderr
    assert network_of(slot) == []
    # The session's lab is untouched: every process, its network, and its answers.
    assert all(running for _, _, running, _ in lab_up.status(lab.state))
    assert network_of(lab.slot) == before
    answers(lab.estate, lab.state)

"""kamailio and SIPp, checked with sipp and kamailio's own JSON-RPC (ul.dump over HTTP,
read with curl): registered vs unregistered extensions, OPTIONS answered through the
registrar and by a trunk endpoint, the "endpoint down" fault, and stop by PID."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from readiness_lab import sip
from readiness_lab.ca import LabCA
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot

from .tools import all_gone, sh

pytestmark = pytest.mark.integration

EXTENSIONS = [
    sip.Extension("4101"),
    sip.Extension("4102"),
    sip.Extension("4103"),
    sip.Extension("4199", registered=False),
]


def trunk(slot: Slot, up: bool = True) -> str:
    """A trunk endpoint's address: the one that answers, or the one that is down."""
    return slot.host(6, 62 if up else 63)


@dataclass
class Sip:
    slot: Slot
    sup: Supervisor
    spec: sip.SipSpec
    lab: sip.SipLab
    ok: Path  # OPTIONS scenario expecting 200
    not_found: Path  # OPTIONS scenario expecting 404


@pytest.fixture(scope="module")
def telephony(
    tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA, net_slot: Slot
) -> Iterator[Sip]:
    sup = Supervisor(tmp_path_factory.mktemp("sip"))
    spec = sip.SipSpec(
        EXTENSIONS,
        [
            sip.Endpoint("sbc-north", trunk(net_slot)),
            sip.Endpoint("sbc-south", trunk(net_slot, up=False), up=False),
        ],
        address=net_slot.sip,
        phones_address=net_slot.sip_phones,
        tls=True,
    )
    lab = sip.start(spec, sup, lab_ca)
    try:
        yield Sip(
            net_slot,
            sup,
            spec,
            lab,
            sip.options_scenario(sup.state_dir / "options-200.xml", 200),
            sip.options_scenario(sup.state_dir / "options-404.xml", 404),
        )
    finally:
        sip.stop(sup)


def options(target: str, user: str, scenario: Path, timeout: str = "5s") -> int:
    """sipp sends one OPTIONS; exit 0 iff the scenario's expected answer came back."""
    r = sh(
        [
            "sipp",
            target,
            "-sf",
            str(scenario),
            "-s",
            user,
            "-m",
            "1",
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            timeout,
            "-timeout_error",
            "-max_retrans",
            "2",
        ],
        timeout=30,
    )
    return r.returncode


def ul_dump(url: str) -> list[str]:
    r = sh(
        [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"jsonrpc": "2.0", "method": "ul.dump", "id": 1}',
            url,
        ]
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["result"]
    return sorted(rec["Info"]["AoR"] for d in result["Domains"] for rec in d["Domain"]["AoRs"])


def test_registered_extensions_in_ul_dump(telephony: Sip) -> None:
    assert telephony.lab.rpc_url == f"http://{telephony.slot.sip}:5080/RPC"
    assert ul_dump(telephony.lab.rpc_url) == ["4101", "4102", "4103"]
    assert sip.registered(telephony.lab.rpc_url) == ["4101", "4102", "4103"]


def test_options_through_the_registrar(telephony: Sip) -> None:
    registrar = f"{telephony.slot.sip}:5060"
    assert options(registrar, "4101", telephony.ok) == 0  # relayed to the phone, 200
    assert options(registrar, "4199", telephony.not_found) == 0  # not registered: 404
    assert options(registrar, "4199", telephony.ok) != 0


def test_registrar_over_tcp(telephony: Sip) -> None:
    r = sh(
        [
            "sipp",
            f"{telephony.slot.sip}:5060",
            "-sf",
            str(telephony.ok),
            "-s",
            "4102",
            "-m",
            "1",
            "-t",
            "t1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "5s",
            "-timeout_error",
        ],
        timeout=30,
    )
    assert r.returncode == 0, r.stdout[-500:]


def test_sip_over_tls(telephony: Sip, lab_ca: LabCA) -> None:
    # SIPp here is built without TLS: openssl s_client carries one OPTIONS instead.
    assert telephony.lab.tls == (telephony.slot.sip, 5061)
    request = (
        f"OPTIONS sip:4101@{telephony.slot.sip}:5061;transport=tls SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 127.0.0.1:5099;branch=z9hG4bK-tls1\r\n"
        "From: <sip:probe@127.0.0.1>;tag=tls1\r\nTo: <sip:4101@valeshared.test>\r\n"
        "Call-ID: tls-probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    proc = subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{telephony.slot.sip}:5061",
            "-quiet",
            "-verify_hostname",
            "sip.valeshared.test",
            "-CAfile",
            str(lab_ca.cert_path),
            "-verify_return_error",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(request)
    proc.stdin.flush()
    try:
        status = proc.stdout.readline()
    finally:
        proc.kill()
        proc.communicate()
    assert status.startswith("SIP/2.0 200"), status


def test_trunk_endpoint_up_and_down(telephony: Sip) -> None:
    up, down = trunk(telephony.slot), trunk(telephony.slot, up=False)
    assert options(f"{up}:5060", "sbc", telephony.ok) == 0
    assert options(f"{down}:5060", "sbc", telephony.ok, timeout="3s") != 0


def test_fault_switches_on_a_running_lab(telephony: Sip) -> None:
    sip.unregister(telephony.spec, "4103")
    assert "4103" not in ul_dump(telephony.lab.rpc_url)
    assert options(f"{telephony.slot.sip}:5060", "4103", telephony.not_found) == 0
    sip.register(telephony.spec, ["4103"], telephony.sup)
    assert "4103" in ul_dump(telephony.lab.rpc_url)

    sip.stop_endpoint("sbc-north", telephony.sup)
    assert options(f"{trunk(telephony.slot)}:5060", "sbc", telephony.ok, timeout="3s") != 0
    sip.start_endpoint(sip.Endpoint("sbc-north", trunk(telephony.slot)), telephony.sup)
    assert options(f"{trunk(telephony.slot)}:5060", "sbc", telephony.ok) == 0


def test_shared_memory_grows_with_registrations() -> None:
    assert sip.shm_megabytes(0) == 256
    assert sip.shm_megabytes(10_000) == 256 + 1250


def test_stop_leaves_no_process(tmp_path_factory: pytest.TempPathFactory, net_slot: Slot) -> None:
    sup = Supervisor(tmp_path_factory.mktemp("sip-stop"))
    spec = sip.SipSpec(
        [sip.Extension("5001")],
        [sip.Endpoint("t", net_slot.host(6, 72))],
        address=net_slot.host(6, 70),
        phones_address=net_slot.host(6, 71),
    )
    sip.start(spec, sup)
    leaders = [m.pid for m in sup.processes()]
    children = [int(p) for pid in leaders for p in sh(["pgrep", "-P", str(pid)]).stdout.split()]
    assert len(leaders) == 3 and children  # kamailio forks its workers
    assert sorted(sip.stop(sup)) == ["kamailio", "sipp-endpoint-t", "sipp-phones"]
    assert all_gone(leaders + children)

"""Real servers for the telephony family's tests, on a slot claimed for the session.

* ``telephony``: kamailio (registrar and proxy over UDP, TCP and TLS; JSON-RPC
  ``ul.dump``; SIP over TLS on sockets of their own with their own certificates) and
  SIPp: the phones behind the registered extensions, and one UAS for each bad answer
  (404, 503, silent, another Call-ID, truncated over UDP and TCP, malformed); BIND with
  the lab's zones (NAPTR and SRV for the SIP domain); all from ``readiness_lab``.
* ``sshd`` (and its slot): the OpenSSH jump host of the network family's tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from readiness.engine import make_plan, run_plan
from readiness.family import RunContext
from readiness.inventory import Inventory, Selection, load
from readiness.results import Result
from readiness_checks.telephony import family
from readiness_lab import dns, sip
from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.estate import generate
from readiness_lab.faults import choose
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot
from tests.checks.conftest import checks_slot, sshd  # noqa: F401 - the jump host fixtures

GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
REGISTERED = ("4101", "4102", "4103")
UNREGISTERED = "4199"
STALE = "4150"  # registered with a contact where nothing listens
BAD_ANSWERS = ("404", "503", "silent", "other-call-id", "truncated", "malformed")


@dataclass
class Telephony:
    slot: Slot
    sip: str  # kamailio's address
    ca: LabCA
    dns: str  # resolver host:port
    rpc_url: str
    endpoints: dict[str, str]  # answer -> address (SIPp UAS, UDP port 5060)
    tcp_truncated: str  # address of a SIPp UAS over TCP that truncates
    wrong_name: str  # address of a TLS socket whose certificate is for another name
    dead: str  # an address of the slot where nothing listens


@pytest.fixture(scope="session")
def telephony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Telephony]:
    base = tmp_path_factory.mktemp("telephony")
    with claimed(base / "slot") as slot:
        sup = Supervisor(base / "state")
        ca = LabCA(base / "ca")
        estate = generate(10, 1, slot)
        endpoints = {answer: slot.host(6, 30 + i) for i, answer in enumerate(BAD_ANSWERS)}
        spec = sip.SipSpec(
            [sip.Extension(n) for n in REGISTERED] + [sip.Extension(UNREGISTERED, False)],
            [sip.Endpoint(a, address, answer=a) for a, address in endpoints.items()]
            + [sip.Endpoint("tcp", slot.host(6, 40), answer="truncated", transport="t1")],
            address=slot.sip,
            phones_address=slot.sip_phones,
            tls=True,
            tls_endpoints=[
                sip.TlsEndpoint("wrong", slot.host(6, 21), names=("wrong-host.valeshared.test",))
            ],
        )
        try:
            dns.start(estate, choose(estate, enabled=False), sup, base, hosts=estate.hosts(False))
            lab = sip.start(spec, sup, ca)
            # A registration whose contact is an address where nothing listens.
            sip.register(dataclasses.replace(spec, phones_address=slot.host(6, 98)), [STALE], sup)
            yield Telephony(
                slot,
                slot.sip,
                ca,
                f"{slot.dns}:53",
                lab.rpc_url,
                endpoints,
                slot.host(6, 40),
                slot.host(6, 21),
                slot.host(6, 99),
            )
        finally:
            sip.stop(sup)
            dns.stop(sup, base)


def load_inventory(folder: Path, text: str) -> Inventory:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(text)
    return load(folder, [family])


def sweep(inventory: Inventory, tmp_path: Path, now: dt.datetime | None = None) -> list[Result]:
    """Plan and run the telephony family through the engine."""
    ctx = RunContext(
        inventory,
        go_live=GO_LIVE,
        clock=lambda: now or dt.datetime.now(dt.UTC),
        secrets_dir=inventory.root,
        state_dir=tmp_path / "state",
    )
    try:
        plan = make_plan(inventory, [family], Selection(), GO_LIVE)
        assert not plan.failed
        results = run_plan(plan, ctx)
    finally:
        ctx.close()
    assert {r.probe for r in results} == {p.id for p in plan.probes}
    return results


def by_id(results: Sequence[Result]) -> dict[str, Result]:
    return {r.id: r for r in results}


def one(results: Sequence[Result], **match: Any) -> Result:
    found = [r for r in results if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [r.id for r in found])
    return found[0]

"""The telephony family against real servers: kamailio (registrar, proxy, TLS sockets
with their own certificates, JSON-RPC ``ul.dump``), SIPp endpoints answering well and
badly, BIND with NAPTR and SRV, and an OpenSSH jump host."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from readiness.results import Status
from readiness_checks.telephony.sip import T1

from .conftest import STALE, UNREGISTERED, Telephony, load_inventory, one, sweep

pytestmark = pytest.mark.integration


def inventory(
    tmp_path: Path,
    t: Telephony,
    endpoints: str,
    *,
    sshd: Any = None,
    known_hosts: Path | None = None,
    staff: str = "",
    name: str = "inv",
) -> Any:
    jump = ""
    branch = ""
    if sshd is not None:
        jump = f"""
vantage_points:
  jump:
    kind: ssh
    host: {sshd.host}
    port: {sshd.port}
    user: {sshd.user}
    key: "file:{sshd.client_key}"
    known_hosts: "{known_hosts or sshd.known_hosts}"
"""
        branch = (
            f'  branch: {{organisation: north, vantage_points: [jump], resolvers: ["{t.dns}"]}}'
        )
    text = f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{t.dns}"]}}
organisations:
  north: {{name: North, ca_bundle: "{t.ca.cert_path}", telephony: {{ranges: ["4100-4199"]}}}}
  south: {{name: South, telephony: {{ranges: ["6100-6199"]}}}}
{jump}
sites:
  hq: {{organisation: north, resolvers: ["{t.dns}"]}}
{branch}
  south-hq: {{organisation: south}}
roles:
  desk: {{extension: true}}
telephony_endpoints:
{endpoints}
staff:
  - {{id: A, organisation: north, site: hq, roles: [desk], extension: "4101"}}
{staff}
"""
    return load_inventory(tmp_path / name, text)


REGISTRAR = """  registrar:
    owner: Telephony team
    sip:
      kind: registrar
      domain: valeshared.test
      transports: [udp, tcp, tls]
      timeout: 2
      registrations: {{read: {read}, url: "{url}", timeout: 7, detail: {detail}}}
"""


def test_a_sip_domain_from_here_and_from_a_jump_host(
    tmp_path: Path, telephony: Telephony, sshd: Any
) -> None:
    endpoints = REGISTRAR.format(read="jsonrpc", url=telephony.rpc_url, detail="brief")
    staff = '  - {id: B, organisation: north, site: branch, roles: [desk], extension: "4102"}'
    results = sweep(inventory(tmp_path, telephony, endpoints, sshd=sshd, staff=staff), tmp_path)
    subject = "telephony_endpoints:registrar"
    mine = [r for r in results if r.subject == subject]
    for vantage in ("local", "jump"):
        dns = [r for r in mine if r.check == "sip.dns" and r.vantage == vantage]
        assert sorted(r.target.split(" ")[0] for r in dns) == [
            "_sip._tcp.valeshared.test",
            "_sip._udp.valeshared.test",
            "_sips._tcp.valeshared.test",
        ]
        assert all(r.status is Status.PASS and r.details["naptr"] for r in dns), dns
        for name in ("tcp", "tls"):
            found = one(
                mine,
                check="sip.options",
                vantage=vantage,
                target=f"{name}:sip.valeshared.test:{5061 if name == 'tls' else 5060}",
            )
            assert found.status is Status.PASS and found.details["code"] == 200, found
        tls = [r for r in mine if r.check.startswith("tls.") and r.vantage == vantage]
        assert len(tls) == 6 and all(r.status is Status.PASS for r in tls), tls
    udp_here = one(
        mine, check="sip.options", vantage="local", target="udp:sip.valeshared.test:5060"
    )
    assert udp_here.status is Status.PASS
    udp_jump = one(mine, check="sip.options", vantage="jump", target="udp:sip.valeshared.test:5060")
    assert udp_jump.status is Status.SKIP and "forwards TCP only" in udp_jump.summary
    assert udp_jump.sites == ("branch",)


def test_a_jump_host_that_cannot_be_used(tmp_path: Path, telephony: Telephony, sshd: Any) -> None:
    endpoints = (
        REGISTRAR.format(read="options", url=telephony.rpc_url, detail="brief")
        + f"  trunk:\n    sip: {{kind: trunk, host: {telephony.sip}, transports: [tcp]}}\n"
    )
    staff = '  - {id: B, organisation: north, site: branch, roles: [desk], extension: "4102"}'
    inv = inventory(
        tmp_path, telephony, endpoints, sshd=sshd, known_hosts=sshd.wrong_known_hosts, staff=staff
    )
    results = [r for r in sweep(inv, tmp_path) if r.vantage == "jump"]
    assert results and {r.status for r in results} == {Status.ERROR}
    assert {r.root_cause for r in results} == {"vantage|jump"}  # one blocker, not one per check
    assert "host key does not match" in one(results, check="sip.options").observed


def bad(t: Telephony) -> str:
    lines = [
        f"  {answer}:\n    checked_from: central\n    sip: {{kind: trunk, host: {address}, "
        f"port: 5060, timeout: 1.6}}"
        for answer, address in t.endpoints.items()
    ]
    lines += [
        f"  maintenance:\n    checked_from: central\n    sip: {{kind: trunk, host: "
        f"{t.endpoints['503']}, port: 5060, timeout: 1.6, maintenance: [503]}}",
        f"  tcp:\n    checked_from: central\n    sip: {{kind: trunk, host: {t.tcp_truncated}, "
        "port: 5060, transports: [tcp], timeout: 1.6}",
        f"  dead:\n    checked_from: central\n    sip: {{kind: pbx, host: {t.dead}, port: 5060}}",
        "  wrong-name:\n    organisation: north\n    checked_from: central\n    sip: "
        "{kind: sbc, host: sbc.north.test, port: 5061, transports: [tls], timeout: 2}",
        f"  no-tls:\n    organisation: north\n    checked_from: central\n    sip: {{kind: sbc, "
        f"host: {t.dead}, port: 5061, transports: [tls], timeout: 1}}",
    ]
    return "\n".join(lines)


def test_bad_answers(tmp_path: Path, telephony: Telephony) -> None:
    t = telephony
    text = bad(t).replace("sbc.north.test", t.wrong_name)
    inv = inventory(tmp_path, t, text)
    results = sweep(inv, tmp_path)

    def options(endpoint: str) -> Any:
        return one(results, subject=f"telephony_endpoints:{endpoint}", check="sip.options")

    found = options("404")
    assert (found.status, found.details["code"]) == (Status.FAIL, 404), found
    found = options("503")
    assert found.status is Status.FAIL and found.details["retry_after"] == "3600", found
    assert "maintenance" in found.hint
    assert options("maintenance").status is Status.WARN  # the inventory calls 503 maintenance
    found = options("silent")  # retransmissions (timer E), then "we could not find out"
    assert found.status is Status.ERROR and found.root_cause.endswith("|no-answer"), found
    assert found.details["sent"] == 3, found.details  # at 0, T1 and 3 x T1 within 1.6 s
    assert 3 * T1 < 1.6
    found = options("other-call-id")
    assert found.status is Status.FAIL and "another request" in found.summary, found
    assert found.details["set_aside"] >= 1 and "another-" in found.observed
    for endpoint, why in (("truncated", "truncated"), ("tcp", "never ended")):
        found = options(endpoint)
        assert found.status is Status.FAIL and "malformed" in found.summary, found
        assert why in found.observed, found.observed
    found = options("malformed")
    assert found.status is Status.FAIL and "not a header line" in found.observed, found
    found = options("dead")  # ICMP port unreachable on a connected UDP socket
    assert found.status is Status.FAIL and found.root_cause.endswith("|refused"), found
    assert "nothing listens" in found.summary
    # TLS: the certificate names another host; SIP itself answers.
    name = one(results, subject="telephony_endpoints:wrong-name", check="tls.certificate-name")
    assert name.status is Status.FAIL and "wrong-host.valeshared.test" in name.observed, name
    assert options("wrong-name").status is Status.PASS
    chain = one(results, subject="telephony_endpoints:wrong-name", check="tls.certificate-chain")
    assert chain.status is Status.PASS  # the lab CA, the organisation's bundle
    # No TLS at all: the handshake says why; the OPTIONS is not sent.
    handshake = one(results, subject="telephony_endpoints:no-tls", check="tls.handshake")
    assert handshake.status is Status.ERROR, handshake
    assert options("no-tls").status is Status.SKIP


def test_a_domain_without_the_srv_record(tmp_path: Path, telephony: Telephony) -> None:
    endpoints = "  old:\n    sip: {kind: pbx, domain: northvale.test, transports: [udp, tcp]}"
    results = sweep(inventory(tmp_path, telephony, endpoints), tmp_path)
    udp = one(results, check="sip.dns", target=f"_sip._udp.northvale.test via {telephony.dns}")
    assert udp.status is Status.PASS  # published: it leads to the PBX
    tcp = one(results, check="sip.dns", target=f"_sip._tcp.northvale.test via {telephony.dns}")
    assert tcp.status is Status.FAIL and "NXDOMAIN" in tcp.observed, tcp
    assert tcp.hint.startswith("publish _sip._tcp.northvale.test")


DESK = "site: hq, roles: [desk]"
PEOPLE = f"""  - {{id: U, organisation: north, {DESK}, extension: "{UNREGISTERED}"}}
  - {{id: S, organisation: north, {DESK}, extension: "{STALE}"}}
  - {{id: N, organisation: north, {DESK}}}
  - {{id: X, organisation: south, site: south-hq, roles: [desk], extension: "4102"}}
  - {{id: Y, organisation: north, {DESK}, extension: "4102"}}"""


@pytest.mark.parametrize(
    ("read", "detail"), [("jsonrpc", "brief"), ("jsonrpc", "full"), ("options", "brief")]
)
def test_every_person_who_needs_a_phone(
    tmp_path: Path, telephony: Telephony, read: str, detail: str
) -> None:
    endpoints = REGISTRAR.format(read=read, url=telephony.rpc_url, detail=detail)
    results = sweep(inventory(tmp_path, telephony, endpoints, staff=PEOPLE), tmp_path)

    def person(key: str, check: str) -> Any:
        return one(results, subject=f"staff:{key}", check=check)

    registered = person("north/A", "sip.registered")
    assert registered.status is Status.PASS
    if detail == "full":  # each contact and when its registration ends
        assert registered.details["contacts"] == [f"sip:4101@{telephony.slot.sip_phones}:5060"]
        assert registered.details["expires"] > dt.datetime.now(dt.UTC).isoformat()
    assert person("north/A", "sip.contact").status is Status.PASS
    assert person("north/A", "sip.extension-range").status is Status.PASS
    unregistered = person("north/U", "sip.registered")
    assert unregistered.status is Status.FAIL, unregistered
    assert unregistered.root_cause == "sip.registered|registrar"
    assert person("north/U", "sip.contact").status is Status.SKIP
    assert person("north/S", "sip.registered").status is Status.PASS
    stale = person("north/S", "sip.contact")  # registered, but nothing answers there
    assert stale.status is Status.FAIL and stale.root_cause.startswith("sip.contact|registrar|")
    missing = person("north/N", "sip.extension-assigned")
    assert missing.status is Status.FAIL and missing.root_cause == "sip.extension-assigned|north"
    outside = person("south/X", "sip.extension-range")
    assert outside.status is Status.FAIL and "north" in outside.summary, outside
    collision = one(results, subject="extensions:4102")
    assert collision.status is Status.FAIL, collision
    assert collision.details["holders"] == ["staff:north/Y", "staff:south/X"]
    assert "staff:south/X" in collision.hint  # outside north's plan: the one to renumber
    assert not [r for r in results if r.subject == "extensions:4101"]  # held once: unique


def test_a_registrar_that_cannot_be_asked(tmp_path: Path, telephony: Telephony) -> None:
    dead = f"http://{telephony.dead}:5080/RPC"
    endpoints = REGISTRAR.format(read="jsonrpc", url=dead, detail="brief")
    results = sweep(inventory(tmp_path, telephony, endpoints, staff=PEOPLE), tmp_path)
    registered = [r for r in results if r.check == "sip.registered"]
    assert len(registered) == 5 and {r.status for r in registered} == {Status.ERROR}
    assert {r.root_cause for r in registered} == {"sip.registrations|registrar|refused"}
    # The proxy still tells whether each phone answers.
    assert one(results, subject="staff:north/A", check="sip.contact").status is Status.PASS
    proxy = f"""  registrar:
    sip:
      kind: registrar
      host: {telephony.dead}
      transports: [udp]
      registrations: {{read: options, domain: valeshared.test, timeout: 1}}
"""
    results = sweep(inventory(tmp_path, telephony, proxy, staff=PEOPLE, name="b"), tmp_path)
    people = [r for r in results if r.check in ("sip.registered", "sip.contact")]
    assert {r.status for r in people} == {Status.ERROR}
    assert {r.root_cause for r in people} == {"sip.proxy|registrar|refused"}

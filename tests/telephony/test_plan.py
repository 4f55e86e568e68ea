"""The telephony family without a network: its blocks as the schema, the merged plan,
the probes it plans (from where, for whom), the edges it adds to the graph, and the
reading of kamailio's ``ul.dump``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from readiness.engine import make_plan
from readiness.inventory import Inventory, InventoryError, Selection
from readiness_checks.telephony import family
from readiness_checks.telephony.config import parse_range
from readiness_checks.telephony.numbering import Numbering, normalise
from readiness_checks.telephony.registrations import BRIEF, ReadError, parse_ul_dump

from .conftest import GO_LIVE, load_inventory

BASE = """
programme: {name: T, go_live: 2027-01-04, resolvers: ["127.0.0.1:53"]}
organisations:
  north: {name: North, telephony: {ranges: ["2000-2999"]}}
  south: {name: South, telephony: {ranges: ["6000-6999", "7000"]}}
vantage_points:
  jump: {kind: ssh, host: 127.0.0.2, user: r, key: "file:k", insecure_host_key: true}
sites:
  hq: {organisation: north}
  branch: {organisation: north, vantage_points: [jump], resolvers: ["127.0.0.3"]}
  south-hq: {organisation: south}
roles:
  desk: {extension: true}
  field: {}
"""


def inventory(tmp_path: Path, extra: str) -> Inventory:
    return load_inventory(tmp_path / "inv", BASE + extra)


STAFF = """
staff:
  - {id: A, organisation: north, site: hq, roles: [desk], extension: "2001"}
  - {id: B, organisation: north, site: branch, roles: [desk], extension: "20 02"}
  - {id: C, organisation: south, site: south-hq, roles: [desk], extension: "2001"}
  - {id: D, organisation: south, site: south-hq, roles: [desk]}
  - {id: E, organisation: south, site: south-hq, roles: [field]}
  - {id: F, organisation: south, site: south-hq, roles: [field], extension: "7000"}
telephony_endpoints:
  registrar:
    sip:
      kind: registrar
      domain: vale.test
      transports: [udp, tcp]
      registrations: {read: options}
  north-pbx:
    organisation: north
    serves: [north]
    sip: {kind: pbx, host: pbx.north.test}
  trunk:
    checked_from: central
    serves: [south]
    sip: {kind: trunk, host: 127.0.0.9, port: 5080, transports: [tls]}
"""


def test_the_merged_plan(tmp_path: Path) -> None:
    inv = inventory(tmp_path, STAFF)
    numbering = Numbering(inv)
    assert [p.key for p in numbering.holders["2001"]] == ["staff:north/A", "staff:south/C"]
    assert normalise("20 02") == normalise("20-02") == normalise("(20)02") == "2002"
    people = {p.id: p for p in inv.staff}
    assert numbering.in_range(people["A"]) is True
    assert numbering.in_range(people["C"]) is False  # 2001 is north's
    assert numbering.owner_of_range("2001") == ["north"]
    assert numbering.in_range(people["F"]) is True  # a single extension as a range
    assert [p.key for p in numbering.others(people["A"])] == ["staff:south/C"]
    assert parse_range(" 0100-0199 ") == (100, 199, 4)
    for bad in ("1-20", "20-10", "abc", "1-"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_what_it_plans(tmp_path: Path) -> None:
    inv = inventory(tmp_path, STAFF)
    plan = make_plan(inv, [family], Selection(), GO_LIVE)
    assert not plan.failed
    probes = {p.id: p for p in plan.probes}
    endpoint = [p for p in plan.probes if p.subject.startswith("telephony_endpoints:")]
    where = sorted((p.subject, p.vantage, p.sites, p.params.resolvers) for p in endpoint)
    assert where == [
        ("telephony_endpoints:north-pbx", "jump", ("branch",), ("127.0.0.3:53",)),
        ("telephony_endpoints:north-pbx", "local", ("hq",), ("127.0.0.1:53",)),
        ("telephony_endpoints:registrar", "jump", ("branch",), ("127.0.0.3:53",)),
        ("telephony_endpoints:registrar", "local", ("hq", "south-hq"), ("127.0.0.1:53",)),
        ("telephony_endpoints:trunk", "local", (), ("127.0.0.1:53",)),
    ]
    people = {p.subject: p for p in plan.probes if p.subject.startswith("staff:")}
    assert set(people) == {
        f"staff:{k}" for k in ("north/A", "north/B", "south/C", "south/D", "south/F")
    }
    assert people["staff:north/A"].params.registrars == ("registrar",)
    assert people["staff:south/D"].check == "sip.extension-assigned"  # no extension
    assert people["staff:south/D"].params.registrars == ()
    extensions = sorted(p.subject for p in plan.probes if p.subject.startswith("extensions:"))
    assert extensions == ["extensions:2001"]  # the one held twice; the others need no result
    assert len(probes) == len(plan.probes)
    # The graph: each holder's phone depends on their extension being theirs alone.
    needs = inv.needs(inv.staff_by_key["staff:south/C"])
    assert needs.subjects["extensions:2001"] == "phone"
    assert needs.subjects["telephony_endpoints:registrar"] == "phone"
    assert "telephony_endpoints:north-pbx" not in needs.subjects
    assert "extensions:2001" in inv.needs(inv.staff_by_key["staff:north/A"]).subjects
    assert "extensions:2002" not in inv.needs(inv.staff_by_key["staff:north/B"]).subjects
    # The names the dns family resolves: hosts (not addresses), the JSON-RPC host too.
    assert [h.host for h in family.hosts(inv)] == ["pbx.north.test"]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{kind: pbx}", "give either host"),
        ("{kind: pbx, host: a.test, domain: b.test}", "give either host"),
        ("{kind: pbx, domain: b.test, port: 5060}", "port comes from SRV"),
        ("{kind: pbx, host: a.test, transports: [udp, udp]}", "listed twice"),
        ("{kind: pbx, host: a.test, transports: [sctp]}", "udp"),
        ("{kind: phone, host: a.test}", "registrar"),
        ("{kind: registrar, host: a.test, registrations: {read: jsonrpc}}", "needs the url"),
        ("{kind: pbx, host: a.test, expect: [700]}", "699"),
        ("{kind: pbx, host: a.test, registrations: {read: options}}", "not a pbx"),
        ("{kind: pbx, host: a.test, colour: red}", "colour"),
        (
            "{kind: registrar, host: a.test, registrations: {read: jsonrpc, url: 'https://a/'}}",
            "http:// URL",
        ),
    ],
)
def test_bad_blocks_are_explained(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(InventoryError) as raised:
        inventory(tmp_path, f"telephony_endpoints:\n  x:\n    sip: {block}\n")
    assert message in str([str(p) for p in raised.value.problems])


def test_bad_ranges_are_explained(tmp_path: Path) -> None:
    text = BASE.replace('["2000-2999"]', '["2999-2000"]')
    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path / "inv", text)
    assert "ends before it starts" in str([str(p) for p in raised.value.problems])


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_reading_ul_dump() -> None:
    def aor(name: str, *expires: object) -> dict[str, object]:
        contacts = [{"Contact": {"Address": f"sip:{name}@p", "Expires": e}} for e in expires]
        return {"Info": {"AoR": name, "Contacts": contacts}}

    reply = {
        "Domains": [
            {
                "Domain": {
                    "AoRs": [
                        aor("4101", 3600),
                        aor("4102@vale.test", "permanent"),
                        aor("4103", "expired", "deleted", 0),
                        aor("4104", 60, "expired"),
                    ]
                }
            }
        ]
    }
    found = parse_ul_dump(reply, NOW)
    assert [c.expires for c in found["4101"]] == [NOW + dt.timedelta(hours=1)]
    assert found["4102"][0].expires is None and found["4102"][0].live(NOW)
    assert found["4103"] == [] and len(found["4104"]) == 1
    brief = parse_ul_dump({"Domains": [{"Domain": {"AoRs": [{"AoR": "4101"}]}}]}, NOW)
    assert brief == {"4101": [BRIEF]} and BRIEF.live(NOW)
    with pytest.raises(ReadError, match="no Domains"):
        parse_ul_dump({"nothing": 1}, NOW)
    assert parse_ul_dump({"Domains": [{"Domain": {}}]}, NOW) == {}

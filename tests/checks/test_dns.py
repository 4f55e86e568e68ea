"""The dns family and the core's DNS service (readiness.net.dns) against a real BIND
(named) on loopback."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from readiness.family import HostRef
from readiness.inventory.models import split_host_port
from readiness.net import dns
from readiness.results import Result, Status
from readiness_checks.dns import family as dns_family
from readiness_checks.network import family as network_family

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def silent_udp() -> Iterator[str]:
    """A 'resolver' that receives queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


# ----------------------------------------------------------------------------- the service


@pytest.mark.parametrize(
    ("name", "outcome", "addresses"),
    [
        ("www.good.test", "ok", ("127.0.0.10", "127.0.0.11")),
        ("dual.good.test", "ok", ("127.0.0.12", "::1")),
        ("alias.good.test", "ok", ("127.0.0.10", "127.0.0.11")),
        ("outside.good.test", "ok", ("127.0.0.20",)),  # CNAME into another zone, chased
        ("nope.good.test", "nxdomain", ()),
        ("dangling.good.test", "nxdomain", ()),
        ("textonly.good.test", "nodata", ()),
        ("x.broken.test", "servfail", ()),  # the zone file does not load
        ("x.other.test", "refused", ()),  # not authoritative, recursion off
    ],
)
def test_lookup_outcomes(bind: Any, name: str, outcome: str, addresses: tuple[str, ...]) -> None:
    found = dns.lookup(name, bind.resolver, 3.0)
    assert found.outcome == outcome, found
    assert found.addresses == addresses


def test_lookup_follows_cname_chain(bind: Any) -> None:
    found = dns.lookup("outside.good.test", bind.resolver, 3.0)
    assert found.cnames == ("target.alias.test",)
    assert "via CNAME target.alias.test" in found.describe()


def test_lookup_dead_and_silent_resolvers(bind: Any, silent_udp: str) -> None:
    dead = dns.lookup("www.good.test", bind.dead_resolver(), 2.0)
    assert dead.outcome == "unreachable"
    silent = dns.lookup("www.good.test", silent_udp, 0.5)
    assert silent.outcome == "timeout"
    assert "no answer" in silent.describe()


def test_resolve_ip_literals_and_resolver_order(bind: Any, silent_udp: str) -> None:
    assert dns.resolve("127.0.0.9", [bind.resolver]) == ["127.0.0.9"]
    assert dns.resolve("::1", []) == ["::1"]
    # The first resolver does not answer: the next one is used.
    assert dns.resolve("www.good.test", [silent_udp, bind.resolver], 0.5) == [
        "127.0.0.10",
        "127.0.0.11",
    ]
    with pytest.raises(dns.ResolveError) as info:
        dns.resolve("nope.good.test", [bind.resolver])
    assert info.value.is_failure and info.value.outcome == "nxdomain"
    with pytest.raises(dns.ResolveError) as info:
        dns.resolve("x.broken.test", [bind.resolver])
    assert not info.value.is_failure and info.value.outcome == "servfail"


def test_resolve_without_resolvers_uses_the_os() -> None:
    assert "127.0.0.1" in dns.resolve("localhost", [])
    with pytest.raises(dns.ResolveError):
        dns.resolve("no-such-host.invalid.test", [])


def test_parse_resolver() -> None:
    assert split_host_port("10.0.0.1") == ("10.0.0.1", 53)
    assert split_host_port("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert split_host_port("[::1]:5353") == ("::1", 5353)
    assert split_host_port("::1") == ("::1", 53)
    assert dns.format_resolver("::1") == "[::1]:53"
    for bad in ("ns1:abc", "1.2.3.4:99999", "[::1", "host:0", ":53"):
        with pytest.raises(ValueError):
            split_host_port(bad)


def test_runcontext_resolve_caches(bind: Any, helpers: Any, tmp_path: Path) -> None:
    inv = helpers.load_inventory(
        tmp_path / "inv",
        f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{bind.resolver}"]}}
organisations: {{north: {{name: North}}}}
""",
    )
    ctx = helpers.run_context(inv, tmp_path / "state")
    dns.QUERIES.reset()
    assert ctx.dns.resolve("www.good.test") == ["127.0.0.10", "127.0.0.11"]
    # One fact per sweep however the name is spelt (case, a final dot).
    assert ctx.dns.resolve("WWW.good.test.") == ["127.0.0.10", "127.0.0.11"]
    assert ctx.dns.lookup("www.good.test.", bind.resolver).addresses == ("127.0.0.10", "127.0.0.11")
    with pytest.raises(dns.ResolveError):
        ctx.dns.resolve("nope.good.test")
    with pytest.raises(dns.ResolveError):
        ctx.dns.resolve("nope.good.test")
    counts = dns.QUERIES.by_key
    assert counts[("www.good.test", "A", bind.resolver, "local")] == 1
    assert counts[("nope.good.test", "A", bind.resolver, "local")] == 1


# ----------------------------------------------------------------------------- family

NAMES = {
    "ok": "www.good.test",
    "alias": "alias.good.test",
    "missing": "nope.good.test",
    "nodata": "textonly.good.test",
    "broken": "x.broken.test",
    "refused": "x.other.test",
}


def inventory_text(resolver: str, south_resolver: str) -> str:
    resources = "\n".join(
        f"  {key}: {{host: {host}, port: 445, owner: Infra {key}}}" for key, host in NAMES.items()
    )
    return f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{resolver}"]}}
organisations:
  north: {{name: North, owner: North IT}}
  south: {{name: South, owner: South IT}}
sites:
  north-hq: {{organisation: north, resolvers: ["{resolver}"]}}
  south-hq: {{organisation: south, resolvers: ["{south_resolver}"], owner: South network}}
roles:
  everything: {{network_resources: [{", ".join(NAMES)}]}}
  ok-only: {{network_resources: [ok], applications: [portal]}}
applications:
  portal: {{url: "https://alias.good.test/", owner: Apps}}
  nobody: {{url: "http://www.good.test:8080/"}}
network_resources:
{resources}
staff:
  - {{id: N1, organisation: north, site: north-hq, roles: [everything]}}
  - {{id: N2, organisation: north, site: north-hq, roles: [ok-only]}}
  - {{id: S1, organisation: south, site: south-hq, roles: [ok-only]}}
"""


def by_key(results: list[Result]) -> dict[tuple[str, str, str], Result]:
    return {(r.subject, r.target.split(" via ")[1], r.vantage): r for r in results}


def test_dns_family_statuses(bind: Any, helpers: Any, tmp_path: Path, silent_udp: str) -> None:
    dead = bind.dead_resolver()
    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind.resolver, dead))
    ctx = helpers.run_context(inv, tmp_path / "state")
    results = by_key(helpers.plan_and_run(dns_family, inv, ctx))
    r = bind.resolver
    ok = results[("network_resources:ok", r, "local")]
    assert ok.status is Status.PASS and ok.observed == "127.0.0.10, 127.0.0.11"
    assert ok.check == "dns.resolves" and ok.target == f"www.good.test via {r}"
    assert ok.sites == ("north-hq",)
    # Needed at both sites: asked through each site's resolvers.
    south = results[("network_resources:ok", dns.format_resolver(dead), "local")]
    assert south.status is Status.ERROR
    assert south.root_cause == f"dns-resolver|{dead}|unreachable|local"
    assert south.owner == "South network"
    assert "staff at south-hq" in south.impact
    alias = results[("applications:portal", r, "local")]
    assert alias.status is Status.PASS and "CNAME www.good.test" in alias.observed
    missing = results[("network_resources:missing", r, "local")]
    assert missing.status is Status.FAIL
    assert missing.root_cause == "dns|nope.good.test|nxdomain"
    assert missing.owner == "Infra missing" and missing.expected == "A/AAAA record(s)"
    assert "NXDOMAIN" in missing.observed and missing.hint
    nodata = results[("network_resources:nodata", r, "local")]
    assert nodata.status is Status.FAIL and nodata.root_cause.endswith("|nodata")
    broken = results[("network_resources:broken", r, "local")]
    assert broken.status is Status.ERROR and broken.root_cause == "dns|x.broken.test|servfail"
    refused = results[("network_resources:refused", r, "local")]
    assert refused.status is Status.ERROR and refused.root_cause == "dns|x.other.test|refused"
    # Needed by nobody: asked through the programme's resolvers.
    nobody = results[("applications:nobody", r, "local")]
    assert nobody.status is Status.PASS and "no staff need" in nobody.impact
    # Every result serialises.
    for result in results.values():
        assert result.to_json()["id"] == result.id


def test_each_name_resolver_vantage_is_queried_once(
    bind: Any, helpers: Any, tmp_path: Path
) -> None:
    """Counted by BIND's own query log, across both families and repeated batches."""
    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind.resolver, bind.resolver))
    ctx = helpers.run_context(inv, tmp_path / "state")
    before = len(bind.queries())
    dns.QUERIES.reset()
    first = helpers.plan_and_run(dns_family, inv, ctx)
    again = helpers.plan_and_run(dns_family, inv, ctx)
    helpers.plan_and_run(network_family, inv, ctx)
    assert [r.status for r in first] == [r.status for r in again]
    # Both sites share the resolver: one query per name and type.
    expected = Counter(
        {(n, t): 1 for n in [*NAMES.values(), "www.good.test"] for t in ("A", "AAAA")}
    )
    for name in ("x.broken.test", "x.other.test"):  # an error on A ends the lookup
        del expected[(name, "AAAA")]
    sent = sum(dns.QUERIES.by_key.values())
    logged = bind.wait_logged(before + sent)[before:]
    assert Counter(logged) == expected
    assert sent == len(logged)


def test_host_refs_include_jump_hosts_and_isolate_broken_families(
    bind: Any, helpers: Any, tmp_path: Path
) -> None:
    text = (
        inventory_text(bind.resolver, bind.resolver)
        + """
vantage_points:
  jump: {kind: ssh, host: www.good.test, user: r, key: "file:k", known_hosts: kh}
"""
    )
    inv = helpers.load_inventory(tmp_path / "inv", text)

    class Broken(type(network_family)):  # type: ignore[misc]
        name = "broken-family"

        def hosts(self, inventory: Any) -> list[HostRef]:
            raise RuntimeError("boom")

    ctx = helpers.run_context(inv, tmp_path / "state")
    results = helpers.plan_and_run(dns_family, inv, ctx, others=[Broken()])
    crash = [r for r in results if r.subject == "family:broken-family"]
    assert len(crash) == 1 and crash[0].status is Status.ERROR and "boom" in crash[0].summary
    jump = [r for r in results if r.subject == "vantage_points:jump"]
    assert [r.status for r in jump] == [Status.PASS]
    assert any(r.subject == "network_resources:ok" and r.status is Status.PASS for r in results)


def test_lookup_over_tcp_through_a_connector_reuses_one_connection(bind: Any) -> None:
    """DNS over TCP as through a vantage point: A, AAAA and CNAME targets share a socket."""
    from readiness.net.vantage import LocalVantage

    opened: list[tuple[str, int]] = []

    class Counting(LocalVantage):
        def connect(self, host: str, port: int, timeout: float) -> socket.socket:
            opened.append((host, port))
            return super().connect(host, port, timeout)

    before = len(bind.queries())
    found = dns.lookup("outside.good.test", bind.resolver, 3.0, via=Counting(), vantage="tcp-test")
    assert found.outcome == "ok" and found.addresses == ("127.0.0.20",)
    assert found.queries == 4 and len(opened) == 1  # A, A of target, AAAA, AAAA of target
    assert len(bind.wait_logged(before + 4)) - before == 4
    refused = dns.lookup("www.good.test", bind.dead_resolver(), 1.0, via=Counting())
    assert refused.outcome == "unreachable"

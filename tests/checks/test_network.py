"""The network family (TCP reachability) against real listening sockets and BIND."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from readiness.family import CheckFamily
from readiness.inventory import InventoryError
from readiness.results import Result, Status
from readiness_checks.network import family as network_family

pytestmark = pytest.mark.integration


def inventory_text(bind: Any, tcp: Any, extra: str = "") -> str:
    return f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{bind.resolver}"]}}
organisations:
  north: {{name: North, owner: North IT}}
sites:
  hq: {{organisation: north, resolvers: ["{bind.resolver}"]}}
  annex: {{organisation: north, resolvers: ["{bind.dead_resolver()}"]}}
roles:
  clerk:
    network_resources: [open, closed, silent, named, unknown-name]
    applications: [app, app-port]
network_resources:
  open: {{host: 127.0.0.1, port: {tcp.open_port}, owner: Infra}}
  closed: {{host: 127.0.0.1, port: {tcp.closed_port}, owner: Infra}}
  silent: {{host: 127.0.0.1, port: {tcp.silent_port}, tcp: {{timeout: 0.5}}, owner: Infra}}
  named: {{host: files.good.test, port: {tcp.open_port}}}
  unknown-name: {{host: nope.good.test, port: 445}}
  unused: {{host: 127.0.0.1, port: {tcp.open_port}, tags: [spare], organisation: north}}
applications:
  app: {{url: "http://files.good.test:{tcp.open_port}/", name: App}}
  app-port: {{url: "https://files.good.test/", tcp: {{port: {tcp.open_port}, timeout: 2}}}}
staff:
  - {{id: N1, organisation: north, site: hq, roles: [clerk]}}
  - {{id: N2, organisation: north, site: hq, roles: [clerk]}}
  - {{id: A1, organisation: north, site: annex, needs: {{network_resources: [named]}}}}
{extra}
"""


def index(results: list[Result]) -> dict[str, Result]:
    return {f"{r.subject}@{r.vantage}": r for r in results}


def test_tcp_statuses(bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path) -> None:
    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind, tcp_targets))
    ctx = helpers.run_context(inv, tmp_path / "state")
    started = time.perf_counter()
    results = helpers.plan_and_run(network_family, inv, ctx)
    took = time.perf_counter() - started
    by = {r.subject: r for r in results if r.subject != "network_resources:named"}
    assert all(r.check == "network.tcp-connect" for r in results)

    ok = by["network_resources:open"]
    assert ok.status is Status.PASS and ok.target == f"127.0.0.1:{tcp_targets.open_port}"
    assert ok.sites == ("hq",) and "staff at hq" in ok.impact

    closed = by["network_resources:closed"]
    assert closed.status is Status.FAIL and "refuses" in closed.summary
    assert closed.root_cause == f"tcp|127.0.0.1:{tcp_targets.closed_port}|refused"
    assert closed.owner == "Infra" and closed.expected == "the connection is accepted"

    silent = by["network_resources:silent"]
    assert silent.status is Status.FAIL and "does not answer" in silent.summary
    assert silent.root_cause.endswith("|no-answer") and "no-answer" in silent.observed
    assert 400 <= silent.duration_ms < 3000

    unknown = by["network_resources:unknown-name"]
    assert unknown.status is Status.ERROR
    assert unknown.root_cause == "dns|nope.good.test|nxdomain"  # groups with the dns result

    # An application's URL is the applications family's (its connection is the same
    # test): here only a port named in its tcp block, besides the URL's.
    assert "applications:app" not in by
    assert by["applications:app-port"].status is Status.PASS
    assert by["applications:app-port"].target == f"files.good.test:{tcp_targets.open_port}"
    # Needed by nobody: still tried, from local.
    assert by["network_resources:unused"].status is Status.PASS
    assert "no staff need" in by["network_resources:unused"].impact
    assert took < 5


def test_resolution_per_site(bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path) -> None:
    """Two sites share the local vantage point: their resolvers are tried in order."""
    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind, tcp_targets))
    ctx = helpers.run_context(inv, tmp_path / "state")
    results = [
        r
        for r in helpers.plan_and_run(network_family, inv, ctx)
        if r.subject == "network_resources:named"
    ]
    assert len(results) == 1
    (named,) = results
    assert named.status is Status.PASS and named.sites == ("annex", "hq")


def test_dead_resolver_is_an_error(
    bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    text = inventory_text(bind, tcp_targets).replace(
        f'hq: {{organisation: north, resolvers: ["{bind.resolver}"]}}',
        f'hq: {{organisation: north, resolvers: ["{bind.dead_resolver()}"]}}',
    )
    inv = helpers.load_inventory(tmp_path / "inv", text)
    ctx = helpers.run_context(inv, tmp_path / "state")
    by = {r.subject: r for r in helpers.plan_and_run(network_family, inv, ctx)}
    named = by["network_resources:named"]
    assert named.status is Status.ERROR
    assert named.root_cause.startswith("dns-resolver|") and "unreachable" in named.root_cause
    assert by["network_resources:open"].status is Status.PASS  # an IP needs no resolver


def test_one_broken_probe_does_not_stop_the_batch(
    bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind, tcp_targets))
    ctx = helpers.run_context(inv, tmp_path / "state")
    real = ctx.vantage("local")

    class Flaky:
        name = "local"

        kind = "local"
        supports_udp = True

        def connect(self, host: str, port: int, timeout: float) -> Any:
            if port == tcp_targets.closed_port:
                raise RuntimeError("library bug")
            return real.connect(host, port, timeout)

        def close(self) -> None:
            pass

    monkeypatch.setattr(ctx, "vantage", lambda name: Flaky())
    by = {r.subject: r for r in helpers.plan_and_run(network_family, inv, ctx)}
    crashed = by["network_resources:closed"]
    assert crashed.status is Status.ERROR and "library bug" in crashed.summary
    assert by["network_resources:open"].status is Status.PASS


def test_hosts_and_validation(bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path) -> None:
    from readiness_checks.dns import object_hosts

    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind, tcp_targets))
    refs = {(r.subject, r.host) for r in object_hosts(inv)}
    assert ("applications:app", "files.good.test") in refs
    assert ("network_resources:unknown-name", "nope.good.test") in refs
    bad = inventory_text(bind, tcp_targets).replace("organisation: north}", "organisation: nrth}")
    with pytest.raises(InventoryError) as info:
        helpers.load_inventory(tmp_path / "bad", bad)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "organisation 'nrth' does not exist" in text and "did you mean 'north'" in text
    assert "inventory.yaml:" in text
    bad_url = inventory_text(bind, tcp_targets).replace(
        '"https://files.good.test/"', '"ftp://files.good.test/"'
    )
    with pytest.raises(InventoryError) as info:
        helpers.load_inventory(tmp_path / "bad2", bad_url)
    assert "http:// or https://" in "\n".join(str(p) for p in info.value.problems)


def test_both_families_through_the_engine(
    bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    """The lead's engine runs the dns and network families together; one raising
    family (a broken hosts()) or a crashing run does not stop the others."""
    from readiness.engine import make_plan, run_plan
    from readiness.inventory import Selection
    from readiness_checks.dns import family as dns_family

    inv = helpers.load_inventory(tmp_path / "inv", inventory_text(bind, tcp_targets))

    class Exploding(type(network_family)):  # type: ignore[misc]
        name = "exploding"
        blocks: dict[Any, Any] = {}  # noqa: RUF012

        def hosts(self, inventory: Any) -> list[Any]:
            raise RuntimeError("hosts exploded")

        def plan(self, ctx: Any) -> list[Any]:
            raise RuntimeError("plan exploded")

    families: list[CheckFamily[Any]] = [dns_family, network_family, Exploding()]
    plan = make_plan(inv, families, Selection())
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        results = run_plan(plan, ctx)
    finally:
        ctx.close()
    ids = [r.id for r in results]
    assert len(ids) == len(set(ids))
    statuses = {(r.family, r.subject): r.status for r in results}
    assert statuses[("network", "network_resources:open")] is Status.PASS
    assert statuses[("network", "network_resources:closed")] is Status.FAIL
    named = {
        r.target: r.status
        for r in results
        if r.family == "dns" and r.subject == "network_resources:named"
    }
    assert named[f"files.good.test via {bind.resolver}"] is Status.PASS
    assert list(named.values()).count(Status.ERROR) == 1  # the annex's dead resolver
    assert statuses[("dns", "family:exploding")] is Status.ERROR
    assert any(r.family == "exploding" and r.status is Status.ERROR for r in results)


def exposure_inventory(bind: Any, tcp: Any) -> str:
    """Two sites: hq (this machine) and annex (its own vantage point); resources that
    must not be reachable from an outside vantage point or from the annex, and one each
    side whose reachability tells a one-way failure from a two-way one."""
    return f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{bind.resolver}"]}}
organisations:
  north: {{name: North, owner: North IT}}
sites:
  hq: {{organisation: north}}
  annex: {{organisation: north, vantage_points: [annex-v]}}
vantage_points:
  outside: {{kind: local}}
  annex-v: {{kind: local}}
roles:
  clerk: {{network_resources: [at-annex]}}
network_resources:
  internal:
    host: 127.0.0.1
    port: {tcp.open_port}
    owner: Infra
    tcp: {{not_reachable_from: [outside, annex]}}
  sealed:
    host: 127.0.0.1
    port: {tcp.closed_port}
    tcp: {{not_reachable_from: [outside]}}
  at-annex: {{host: 127.0.0.1, port: {tcp.open_port}, tcp: {{site: annex}}}}
  at-hq: {{host: 127.0.0.1, port: {tcp.closed_port}, tcp: {{site: hq}}}}
staff:
  - {{id: N1, organisation: north, site: hq, roles: [clerk]}}
  - {{id: A1, organisation: north, site: annex, needs: {{network_resources: [at-hq]}}}}
"""


def test_exposure_and_one_way(bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path) -> None:
    """not_reachable_from: accepted is an exposure (fail), refused or silent a pass; a
    failure between two sites whose other way works is called out as one-way."""
    text = exposure_inventory(bind, tcp_targets)
    inv = helpers.load_inventory(tmp_path / "inv", text)
    ctx = helpers.run_context(inv, tmp_path / "state")
    results = helpers.plan_and_run(network_family, inv, ctx)
    exposure = {(r.subject, r.vantage): r for r in results if r.check == "network.exposure"}
    exposed = exposure[("network_resources:internal", "outside")]
    assert exposed.status is Status.FAIL and "must not be" in exposed.summary
    assert exposed.root_cause == f"exposure|127.0.0.1:{tcp_targets.open_port}|outside"
    assert exposure[("network_resources:internal", "annex-v")].status is Status.FAIL
    assert exposure[("network_resources:sealed", "outside")].status is Status.PASS
    one_way = next(r for r in results if r.subject == "network_resources:at-hq")
    assert one_way.status is Status.FAIL and "one-way: hq reaches annex" in one_way.summary
    assert one_way.details["one_way"]["back"] == ["network_resources:at-annex"]

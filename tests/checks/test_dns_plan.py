"""The DNS family's plan (no I/O): whose view each lookup gives. A lookup through a site's
own resolvers speaks for that site's staff only; one through the programme's resolvers
is the sweep's own view and counts for everyone who needs the name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from readiness.engine import make_plan
from readiness.family import CheckFamily
from readiness.inventory import InventoryError, Selection, load
from readiness.net.reach import VIA_VANTAGE
from readiness_checks.applications import family as applications_family
from readiness_checks.dns import family as dns_family
from readiness_checks.network import family as network_family

INVENTORY = """
programme: {name: x, go_live: 2027-01-04, resolvers: ["127.0.0.53"]}
organisations: {north: {name: N}}
sites:
  hq: {organisation: north, resolvers: ["127.0.0.54"]}
  depot: {organisation: north}
roles:
  clerk: {network_resources: [files]}
network_resources:
  files: {host: files.north.test, port: 445}
staff:
  - {id: A, organisation: north, site: hq, roles: [clerk]}
  - {id: B, organisation: north, site: depot, roles: [clerk]}
"""


def test_lookups_name_the_sites_whose_view_they_give(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    families: list[CheckFamily[Any]] = [dns_family, network_family]
    inventory = load(tmp_path, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"dns"})))
    views = {p.target: p.sites for p in plan.probes}
    assert views == {
        "files.north.test via 127.0.0.54:53": ("hq",),  # the site's own resolver
        "files.north.test via 127.0.0.53:53": (),  # the programme's: everyone's view
    }


def test_where_an_object_is_checked_from(tmp_path: Path) -> None:
    """``checked_from``: each site's vantage points (default), this machine once, or one
    named vantage point once, whose result then speaks for every site needing it."""
    (tmp_path / "inventory.yaml").write_text(
        INVENTORY.replace(
            "sites:\n", "sites:\n  annex: {organisation: north, vantage_points: [vp]}\n"
        )
        .replace(
            "  files: {host: files.north.test, port: 445}",
            "  files: {host: files.north.test, port: 445}\n"
            "  central: {host: c.north.test, port: 1, checked_from: central}\n"
            "  named: {host: n.north.test, port: 2, checked_from: vp}",
        )
        .replace(
            "roles:\n  clerk: {network_resources: [files]}",
            "roles:\n  clerk: {network_resources: [files, central, named]}",
        )
        + "  - {id: C, organisation: north, site: annex, roles: [clerk]}\n"
        "vantage_points: {vp: {kind: ssh, host: 127.0.0.9, user: r, key: 'file:k'}}\n",
        encoding="utf-8",
    )
    families: list[CheckFamily[Any]] = [dns_family, network_family]
    inventory = load(tmp_path, families)
    plan = make_plan(inventory, families, Selection(families=frozenset({"network"})))
    routes = {(p.subject, p.vantage): p.sites for p in plan.probes}
    # The SSH vantage point's own login is a result of its own (network.vantage-login).
    assert routes.pop(("vantage_points:vp", "vp")) == ()
    assert routes == {
        ("network_resources:files", "local"): ("depot", "hq"),
        ("network_resources:files", "vp"): ("annex",),
        ("network_resources:central", "local"): (),
        ("network_resources:named", "vp"): ("annex", "depot", "hq"),
    }
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "inventory.yaml").write_text(
        (tmp_path / "inventory.yaml").read_text().replace("checked_from: vp", "checked_from: v"),
        encoding="utf-8",
    )
    with pytest.raises(InventoryError) as info:
        load(bad, families)
    assert "vantage point 'v' does not exist" in str(info.value.problems[0])


def test_how_each_vantage_point_resolves(tmp_path: Path) -> None:
    """From a site's own vantage point, the site's resolvers; from a vantage point that
    speaks for itself (an outside one named by ``checked_from`` or ``not_reachable_from``)
    its own ``resolvers``, never the sites' internal ones; without any, the jump host's."""
    (tmp_path / "inventory.yaml").write_text(
        """
programme: {name: x, go_live: 2027-01-04, resolvers: ["127.0.0.53"]}
organisations: {north: {name: N}}
sites:
  hq: {organisation: north, resolvers: ["127.0.0.54"], vantage_points: [hq-v]}
  depot: {organisation: north, resolvers: ["127.0.0.55"]}
vantage_points:
  hq-v: {kind: ssh, host: 127.0.0.9, user: r, key: "file:k"}
  internet: {kind: ssh, host: 127.0.0.10, user: r, key: "file:k", resolvers: ["192.0.2.53"]}
  bare: {kind: ssh, host: 127.0.0.11, user: r, key: "file:k"}
roles:
  clerk: {applications: [webmail], network_resources: [files]}
applications:
  webmail: {url: "https://webmail.north.test/", checked_from: internet}
network_resources:
  files:
    host: files.north.test
    port: 445
    tcp: {not_reachable_from: [internet, hq, bare]}
staff:
  - {id: A, organisation: north, site: hq, roles: [clerk]}
  - {id: B, organisation: north, site: depot, roles: [clerk]}
""",
        encoding="utf-8",
    )
    families: list[CheckFamily[Any]] = [applications_family, network_family]
    inventory = load(tmp_path, families)
    plan = make_plan(inventory, families, Selection())
    seen = {
        (p.check, p.vantage): (p.params.resolvers, p.sites)
        for p in plan.probes
        if p.check in ("http.connect", "network.tcp-connect", "network.exposure")
    }
    assert seen == {
        # The remote-access entry point, from outside, for every site that needs it.
        ("http.connect", "internet"): (("192.0.2.53:53",), ("depot", "hq")),
        ("network.tcp-connect", "hq-v"): (("127.0.0.54:53",), ("hq",)),
        ("network.tcp-connect", "local"): (("127.0.0.55:53",), ("depot",)),
        ("network.exposure", "internet"): (("192.0.2.53:53",), ()),
        ("network.exposure", "hq-v"): (("127.0.0.54:53",), ()),
        ("network.exposure", "bare"): ((VIA_VANTAGE,), ()),
    }

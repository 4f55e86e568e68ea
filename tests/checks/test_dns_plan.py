"""The DNS family's plan (no I/O): whose view each lookup gives. A lookup through a site's
own resolvers speaks for that site's staff only; one through the programme's resolvers
is the sweep's own view and counts for everyone who needs the name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from readiness.engine import make_plan
from readiness.family import CheckFamily
from readiness.inventory import Selection, load
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

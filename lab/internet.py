"""The internet: a namespace outside both organisations, and the router's perimeter.

Remote-access entry points (the estate's ``remote_access`` applications: webmail) are
used from outside, so the sweep checks them from there, and checks that what is
internal is NOT reachable from there. Layout at slot N (lab/slot.py)::

    rlN-router   rlN-inet 10.N.90.1/24
        |
    rlN-internet eth0 10.N.90.10/24: the SSH jump host of vantage point ``internet``

The host routes 10.N.90.0/24 via the router (``proto`` 177, like lab/netns.py's site
routes; it goes with the link). The internet resolves names through the sites' DNS
address (10.N.0.1: BIND's ``sites`` view, whose answers are reachable through the
router, lab/gateway.py), and the router's perimeter (nftables table
``inet rlN_perimeter``, forward hook) lets it reach only:

* the published entry points (the site-side twin of ``Slot.remote_access``, 443);
* that DNS address, port 53;
* and, with fault ``resource-exposed`` (lab/faults.py), one internal resource: the
  hole an administrator forgot in the rules.

Everything else from the internet is rejected (ICMP administratively prohibited: a
fast "no", so the sweep's exposure tests do not wait). The same table rejects the
other organisation's sites from each ``private`` resource (the printers): the inventory
says so with ``tcp.not_reachable_from`` (:func:`not_reachable_from`).

Only with namespaces: the loopback fallback has no outside to stand in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .estate import INTERNET, Estate, NetworkResource
from .faults import RESOURCE_EXPOSED, FaultPlan
from .gateway import twin
from .netns import ROUTE_PROTO, kill_netns_pids
from .process import run
from .slot import Slot

__all__ = [
    "Perimeter",
    "jump_address",
    "not_reachable_from",
    "perimeter",
    "ruleset",
    "start",
    "stop",
    "subnet",
]

OCTET = 90  # 10.N.90.0/24: clear of the sites (10.N.1..) and the twins (10.N.96..)


def subnet(slot: Slot) -> str:
    return slot.site(OCTET, 0) + "/24"


def jump_address(slot: Slot) -> str:
    """Where the internet vantage point's SSH jump host listens (port 22)."""
    return slot.site(OCTET, 10)


def _router_address(slot: Slot) -> str:
    return slot.site(OCTET, 1)


def _router_if(slot: Slot) -> str:
    return f"{slot.prefix}-inet"


def _table(slot: Slot) -> str:
    return f"{slot.prefix}_perimeter"


@dataclass(frozen=True)
class Perimeter:
    """What the router lets through, as (address, port) pairs seen from the sites."""

    published: tuple[tuple[str, int], ...]  # the internet may reach these
    exposed: tuple[tuple[str, int], ...]  # fault: internal ones it reaches too
    private: tuple[tuple[str, str, int], ...]  # (source subnet, address, port) refused


def not_reachable_from(estate: Estate, res: NetworkResource) -> list[str]:
    """Where ``res`` must not be reachable from: the internet, and for a private
    resource the other organisation's sites with a vantage point."""
    others = [
        s.id
        for s in estate.sites
        if res.private and s.organisation != res.organisation and s.vantage_point
    ]
    return [INTERNET, *others]


def perimeter(estate: Estate, plan: FaultPlan) -> Perimeter:
    slot = estate.slot
    published = sorted(
        {
            (twin(slot.remote_access, slot) or "", 443)
            for a in estate.applications
            if a.remote_access
        }
    )
    exposed = [(f.detail("dst"), int(f.detail("port"))) for f in plan.of_kind(RESOURCE_EXPOSED)]
    private = [
        (site.subnet, res.ip, res.port)
        for res in estate.resources
        for site in estate.sites
        if site.id in not_reachable_from(estate, res) and site.subnet
    ]
    return Perimeter(tuple(published), tuple(sorted(exposed)), tuple(sorted(private)))


def ruleset(slot: Slot, rules: Perimeter) -> str:
    """The router's perimeter table (``nft -f`` input)."""
    outside = subnet(slot)

    def accept(pairs: Iterable[tuple[str, int]], comment: str) -> list[str]:
        return [
            f'ip saddr {outside} ip daddr {a} tcp dport {p} accept comment "{comment}"'
            for a, p in pairs
        ]

    lines = [
        "ct state established,related accept",
        *accept(rules.published, "published"),
        f"ip saddr {outside} ip daddr {slot.dns_site} meta l4proto {{ tcp, udp }} "
        'th dport 53 accept comment "public DNS"',
        *accept(rules.exposed, "exposure: a forgotten rule"),
        f'ip saddr {outside} reject with icmp type admin-prohibited comment "internet"',
        *(
            f"ip saddr {src} ip daddr {a} tcp dport {p} reject with icmp type "
            'admin-prohibited comment "the other organisation"'
            for src, a, p in rules.private
        ),
    ]
    body = "".join(f"        {line}\n" for line in lines)
    return (
        f"table inet {_table(slot)} {{\n    chain forward {{\n"
        "        type filter hook forward priority 10; policy accept;\n"
        f"{body}    }}\n}}\n"
    )


def start(slot: Slot, rules: Perimeter) -> str:
    """Build the internet namespace, its link to the router and the perimeter (the
    router namespace of lab/netns.py must exist); returns what was built, in words."""
    stop(slot)
    ns, router, rif = slot.internet_ns, slot.router_ns, _router_if(slot)
    run(["ip", "netns", "add", ns])
    for key in ("all", "default"):
        run(["sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"], netns=ns)
    run(["ip", "link", "set", "lo", "up"], netns=ns)
    run(
        ["ip", "link", "add", rif, "type", "veth", "peer", "name", "eth0", "netns", ns],
        netns=router,
    )
    run(["ip", "addr", "add", f"{_router_address(slot)}/24", "dev", rif], netns=router)
    run(["ip", "link", "set", rif, "up"], netns=router)
    run(["ip", "addr", "add", f"{jump_address(slot)}/24", "dev", "eth0"], netns=ns)
    run(["ip", "link", "set", "eth0", "up"], netns=ns)
    run(["ip", "route", "add", "default", "via", _router_address(slot)], netns=ns)
    run(["ip", "route", "replace", *_host_route(slot)])
    run(["nft", "-f", "-"], input=ruleset(slot, rules), netns=router)
    holes = ", ".join(f"{a}:{p}" for a, p in rules.exposed) or "none"
    return f"{ns} {subnet(slot)} (published {len(rules.published)}, exposed {holes})"


def stop(slot: Slot) -> None:
    """Remove the internet namespace (and stray processes in it, by PID) and the
    perimeter table; idempotent. Its link and host route go with the namespace."""
    kill_netns_pids(slot.internet_ns)
    run(["ip", "netns", "del", slot.internet_ns], check=False)
    run(["nft", "delete", "table", "inet", _table(slot)], netns=slot.router_ns, check=False)
    run(["ip", "route", "del", *_host_route(slot)], check=False)


def _host_route(slot: Slot) -> list[str]:
    return [subnet(slot), "via", slot.site(0, 2), "dev", slot.host_if, "proto", ROUTE_PROTO]

"""Let the site namespaces reach the services on the host's loopback addresses.

The shared services (slapd, Samba, nginx, postfix, kamailio...) listen on
127.N.A.B of the host (N: the lab's slot, lab/slot.py). A site namespace cannot
route to 127.0.0.0/8, so each such address gets a *site-side* twin
``10.N.(100+A).B``: the router sends 10.N.96.0/19 to the host (10.N.0.1), where an
nftables DNAT rule (table ``ip rlN_gateway``; ``rl_gateway`` at the default slot)
turns it into 127.N.A.B (``route_localnet`` on the host end of the link allows it).
BIND answers the site resolver (10.N.0.1) with the twins (a ``sites`` view,
lab/dns.py), so a name resolves to an address that works from where it is asked.

:func:`start` needs the namespaces of lab/netns.py; :func:`stop` removes the table
(the router route and the sysctl go away with the namespaces and the link).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from .process import run
from .slot import Slot


def _table(slot: Slot) -> str:
    return f"{slot.prefix}_gateway"


def twin(address: str, slot: Slot) -> str | None:
    """The site-side twin of a host loopback service address of ``slot`` (None if it
    is not one)."""
    ip = ipaddress.ip_address(address)
    if ip not in ipaddress.ip_network(slot.loopback_range):
        return None
    _, _, a, b = str(ip).split(".")
    if not 1 <= int(a) <= 27:
        return None
    return slot.site(100 + int(a), int(b))


def site_hosts(hosts: Mapping[str, str], slot: Slot) -> dict[str, str]:
    """``hosts`` as the sites must see them: loopback services replaced by their twins
    (the DNS server itself is reached on the host side of the router link)."""
    out = {}
    for name, address in hosts.items():
        if address == slot.dns:
            out[name] = slot.dns_site
        else:
            out[name] = twin(address, slot) or address
    return out


def start(slot: Slot, addresses: Iterable[str]) -> dict[str, str]:
    """DNAT every twin to its loopback address; returns twin -> loopback address."""
    pairs = {t: a for a in sorted(set(addresses)) if (t := twin(a, slot))}
    stop(slot)
    run(["sysctl", "-q", "-w", f"net.ipv4.conf.{slot.host_if}.route_localnet=1"])
    run(
        ["ip", "route", "replace", slot.site(96, 0) + "/19", "via", slot.dns_site],
        netns=slot.router_ns,
    )
    rules = "\n".join(
        f'        iifname "{slot.host_if}" ip daddr {t} dnat to {a}' for t, a in pairs.items()
    )
    ruleset = (
        f"table ip {_table(slot)} {{\n    chain prerouting {{\n"
        f"        type nat hook prerouting priority dstnat; policy accept;\n"
        f"{rules}\n    }}\n}}\n"
    )
    run(["nft", "-f", "-"], input=ruleset)
    return pairs


def stop(slot: Slot) -> None:
    run(["nft", "delete", "table", "ip", _table(slot)], check=False)

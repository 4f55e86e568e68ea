"""Let the site namespaces reach the services on the host's loopback addresses.

The shared services (slapd, Samba, nginx, postfix, kamailio...) listen on
127.77.A.B of the host. A site namespace cannot route to 127.0.0.0/8, so each such
address gets a *site-side* twin ``10.77.(100+A).B``: the router sends
10.77.96.0/19 to the host (10.77.0.1), where an nftables DNAT rule (table
``ip rl_gateway``) turns it into 127.77.A.B (``route_localnet`` on the host end of
the link allows it). BIND answers the site resolver (10.77.0.1) with the twins (a
``sites`` view, lab/dns.py), so a name resolves to an address that works from
where it is asked.

:func:`start` needs the namespaces of lab/netns.py; :func:`stop` removes the table
(the router route and the sysctl go away with the namespaces and the link).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from .process import run

TABLE = "rl_gateway"
HOST_IF = "rl-host0"
HOST_SIDE = "10.77.0.1"
ROUTER = "rl-router"
TWIN_NET = "10.77.96.0/19"


def twin(address: str) -> str | None:
    """The site-side twin of a host loopback service address (None if not 127.77.x.y)."""
    ip = ipaddress.ip_address(address)
    if ip not in ipaddress.ip_network("127.77.0.0/16"):
        return None
    _, _, a, b = str(ip).split(".")
    if not 1 <= int(a) <= 27:
        return None
    return f"10.77.{100 + int(a)}.{b}"


def site_hosts(hosts: Mapping[str, str], dns_address: str) -> dict[str, str]:
    """``hosts`` as the sites must see them: loopback services replaced by their twins
    (the DNS server itself is reached on the host side of the router link)."""
    out = {}
    for name, address in hosts.items():
        if address == dns_address:
            out[name] = HOST_SIDE
        else:
            out[name] = twin(address) or address
    return out


def start(addresses: Iterable[str]) -> dict[str, str]:
    """DNAT every twin to its loopback address; returns twin -> loopback address."""
    pairs = {t: a for a in sorted(set(addresses)) if (t := twin(a))}
    stop()
    run(["sysctl", "-q", "-w", f"net.ipv4.conf.{HOST_IF}.route_localnet=1"])
    run(["ip", "route", "replace", TWIN_NET, "via", HOST_SIDE], netns=ROUTER)
    rules = "\n".join(
        f'        iifname "{HOST_IF}" ip daddr {t} dnat to {a}' for t, a in pairs.items())
    ruleset = (f"table ip {TABLE} {{\n    chain prerouting {{\n"
               f"        type nat hook prerouting priority dstnat; policy accept;\n"
               f"{rules}\n    }}\n}}\n")
    run(["nft", "-f", "-"], input=ruleset)
    return pairs


def stop() -> None:
    run(["nft", "delete", "table", "ip", TABLE], check=False)

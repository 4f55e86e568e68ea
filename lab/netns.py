"""Two sites joined by a router: network namespaces, veth pairs, nftables.

Layout (address plan in docs/HELPERS.md)::

    host (root ns) rl-host0 10.77.0.1/30
        |
    rl-router  rl-up 10.77.0.2/30 | rl-north 10.77.1.1/24 | rl-south 10.77.2.1/24
        |                                   |
    rl-north-hq  eth0 10.77.1.10/24 (+.20.. resources)   rl-south-hq  eth0 10.77.2.10/24 (+...)

The host routes 10.77.1.0/24 and 10.77.2.0/24 via the router, and keeps an
``unreachable 10.77.0.0/16`` route (higher metric) so no lab packet ever leaves
the machine, even while a link is down. IPv6 is off inside the namespaces.

Resources ("files", "printers", ...) are real TCP listeners (one small Python
process per site, started through the Supervisor inside the site namespace).
A "host that does not answer" (:func:`blackhole_address`) is an address inside a
site namespace whose packets are dropped by nftables there.

Fault: :func:`block_flow` adds a one-way nftables DROP in the router (packets from
a source network to a destination address and port), so the connection times out.

Where namespaces cannot be created (:func:`namespaces_available` is false, or
``NetSpec.force_loopback``), :func:`start` falls back to loopback: resources on
127.77.8.x, and the returned :class:`Network` has ``fallback=True``; the blackhole
and blocks then use an nftables table in the root namespace (``inet rl_lab``)
that only matches 127.77.8.x destinations, and blocks ignore the source network.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .process import LabError, Supervisor, run

# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Resource:
    """A TCP resource at a site, e.g. a file share (445) or a printer (9100, 631)."""

    name: str  # e.g. "north-files"
    site: str  # a key of SITES: "north-hq" or "south-hq"
    ports: tuple[int, ...]  # e.g. (445,) or (9100, 631)


@dataclass(frozen=True)
class Block:
    """A one-way firewall block (fault "cross-site flow blocked").

    Packets from ``src_net`` (CIDR) to ``dst`` (address) TCP ``port`` are dropped in
    the router, so the connection attempt times out. Replies are untouched.
    """

    src_net: str  # e.g. "10.77.1.0/24"
    dst: str  # e.g. "10.77.2.20"
    port: int


@dataclass
class NetSpec:
    """What :func:`start` builds."""

    resources: list[Resource] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    force_loopback: bool = False  # build the loopback fallback even if netns works


@dataclass
class SiteNet:
    site: str
    netns: str | None  # None in the loopback fallback
    subnet: str  # "10.77.1.0/24" (fallback: "127.77.7.1/32")
    jump_address: str  # 10.77.1.10 or 127.77.7.1
    jump_port: int  # 22 or 2201
    resolver: str  # 10.77.0.1 (BIND on the host link) or 127.77.0.53


@dataclass
class Network:
    """What :func:`start` built; also written to ``<state>/net.json``."""

    fallback: bool  # True: no namespaces, everything on loopback
    sites: dict[str, SiteNet]
    resources: dict[str, tuple[str, tuple[int, ...]]]  # name -> (address, ports)
    blackhole: str  # an address that never answers
    blocks: list[Block] = field(default_factory=list)


# --------------------------------------------------------------------------- public API


def namespaces_available() -> bool:
    """True if this machine lets us create network namespaces and veth pairs."""
    if shutil.which("ip") is None:
        return False
    probe = "rl-probe"
    with contextlib.suppress(LabError):
        run(["ip", "netns", "del", probe], check=False)
        run(["ip", "netns", "add", probe])
        try:
            run(["ip", "link", "add", "rl-probe-a", "type", "veth", "peer", "name", "rl-probe-b"],
                netns=probe)
            return True
        finally:
            run(["ip", "netns", "del", probe], check=False)
    return False


def plan(spec: NetSpec, *, fallback: bool) -> Network:
    """The addresses :func:`start` will use, without building anything.

    Deterministic: lab-core can write DNS zones and the inventory from it first.
    """
    sites: dict[str, SiteNet] = {}
    for key, s in SITES.items():
        if fallback:
            sites[key] = SiteNet(key, None, f"{s.fallback_jump}/32", s.fallback_jump,
                                 s.fallback_port, "127.77.0.53")
        else:
            sites[key] = SiteNet(key, s.netns, f"{s.prefix}.0/24", f"{s.prefix}.10", 22,
                                 HOST_ADDRESS)
    resources: dict[str, tuple[str, tuple[int, ...]]] = {}
    counters = {key: 20 for key in SITES}
    fallback_n = 20
    for r in spec.resources:
        if r.site not in SITES:
            raise LabError(f"resource {r.name}: unknown site {r.site!r} (known: {sorted(SITES)})")
        if fallback:
            resources[r.name] = (f"127.77.8.{fallback_n}", r.ports)
            fallback_n += 1
        else:
            resources[r.name] = (f"{SITES[r.site].prefix}.{counters[r.site]}", r.ports)
            counters[r.site] += 1
    blackhole = FALLBACK_BLACKHOLE if fallback else BLACKHOLE
    return Network(fallback, sites, resources, blackhole, list(spec.blocks))


def start(spec: NetSpec, sup: Supervisor) -> Network:
    """Build the two sites (or the loopback fallback) and start the resource listeners.

    Removes leftovers of an earlier run first. Returns the :class:`Network`
    (``fallback`` says whether namespaces were used) and writes it to
    ``<state>/net.json``.
    """
    teardown(sup)
    fallback = spec.force_loopback or not namespaces_available()
    net = plan(spec, fallback=fallback)
    if fallback:
        _build_fallback(net)
    else:
        _build_namespaces(net)
    _start_listeners(net, sup)
    for b in spec.blocks:
        block_flow(b, fallback=fallback)
    _state_file(sup).write_text(json.dumps(asdict(net), indent=1))
    return net


def stop(sup: Supervisor) -> None:
    """Stop the listeners and remove namespaces, links, routes and nftables tables."""
    teardown(sup)


def blackhole_address(fallback: bool = False) -> str:
    """An address that never answers (packets silently dropped by nftables).

    Connecting to any TCP port there times out; it is inside the north site
    namespace (10.77.1.99) or, in the loopback fallback, 127.77.8.99.
    """
    return FALLBACK_BLACKHOLE if fallback else BLACKHOLE


def block_flow(block: Block, *, fallback: bool = False) -> None:
    """Fault: drop packets from ``block.src_net`` to ``block.dst``:``block.port`` (one way)."""
    rule = _block_rule(block, fallback)
    if fallback:
        _nft(f"add rule inet {NFT_TABLE} out {rule}")
    else:
        _nft(f"add rule inet {NFT_TABLE} forward {rule}", netns=ROUTER)


def unblock_flow(block: Block, *, fallback: bool = False) -> None:
    """Remove a block added by :func:`block_flow` (no error if it is not there)."""
    ns = None if fallback else ROUTER
    chain = "out" if fallback else "forward"
    listing = run(["nft", "-a", "list", "chain", "inet", NFT_TABLE, chain], netns=ns,
                  check=False).stdout
    tag = _block_tag(block)
    for line in listing.splitlines():
        if f'"{tag}"' in line and "# handle " in line:
            handle = line.rsplit("# handle ", 1)[1].strip()
            _nft(f"delete rule inet {NFT_TABLE} {chain} handle {handle}", netns=ns)


def load(sup: Supervisor) -> Network | None:
    """The :class:`Network` written by the last :func:`start` in this state folder."""
    path = _state_file(sup)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Network(
        fallback=raw["fallback"],
        sites={k: SiteNet(**v) for k, v in raw["sites"].items()},
        resources={k: (v[0], tuple(v[1])) for k, v in raw["resources"].items()},
        blackhole=raw["blackhole"],
        blocks=[Block(**b) for b in raw["blocks"]],
    )


def teardown(sup: Supervisor) -> None:
    """Remove everything this module may have created (idempotent)."""
    for m in sup.processes():
        if m.name.startswith(LISTENER_PREFIX):
            sup.stop(m.name)
    for ns in (*(s.netns for s in SITES.values()), ROUTER):
        _kill_netns_pids(ns)
        run(["ip", "netns", "del", ns], check=False)
    run(["ip", "link", "del", HOST_IF], check=False)
    run(["ip", "route", "del", "unreachable", LAB_RANGE], check=False)
    for s in SITES.values():
        run(["ip", "route", "del", f"{s.prefix}.0/24"], check=False)
    if shutil.which("nft"):
        run(["nft", "delete", "table", "inet", NFT_TABLE], check=False)
    for addr in _fallback_addresses():
        run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], check=False)
    with contextlib.suppress(FileNotFoundError):
        _state_file(sup).unlink()


# --------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class _Site:
    netns: str
    prefix: str  # first three octets
    router_if: str
    fallback_jump: str
    fallback_port: int


SITES: dict[str, _Site] = {
    "north-hq": _Site("rl-north-hq", "10.77.1", "rl-north", "127.77.7.1", 2201),
    "south-hq": _Site("rl-south-hq", "10.77.2", "rl-south", "127.77.7.2", 2202),
}
ROUTER = "rl-router"
HOST_IF = "rl-host0"
HOST_ADDRESS = "10.77.0.1"
ROUTER_UPLINK = "10.77.0.2"
LAB_RANGE = "10.77.0.0/16"
BLACKHOLE = "10.77.1.99"
FALLBACK_BLACKHOLE = "127.77.8.99"
NFT_TABLE = "rl_lab"
LISTENER_PREFIX = "net-listener-"


# --------------------------------------------------------------------------- building


def _build_namespaces(net: Network) -> None:
    run(["ip", "netns", "add", ROUTER])
    for s in SITES.values():
        run(["ip", "netns", "add", s.netns])
    for ns in (ROUTER, *(s.netns for s in SITES.values())):
        _sysctls(ns)
        run(["ip", "link", "set", "lo", "up"], netns=ns)
    # host <-> router
    run(["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", "rl-up", "netns", ROUTER])
    run(["ip", "addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_IF])
    run(["ip", "link", "set", HOST_IF, "up"])
    run(["ip", "addr", "add", f"{ROUTER_UPLINK}/30", "dev", "rl-up"], netns=ROUTER)
    run(["ip", "link", "set", "rl-up", "up"], netns=ROUTER)
    # router <-> sites
    for key, s in SITES.items():
        run(["ip", "link", "add", s.router_if, "type", "veth", "peer", "name", "eth0",
             "netns", s.netns], netns=ROUTER)
        run(["ip", "addr", "add", f"{s.prefix}.1/24", "dev", s.router_if], netns=ROUTER)
        run(["ip", "link", "set", s.router_if, "up"], netns=ROUTER)
        addrs = [f"{s.prefix}.10"] + [a for a, _ in _site_resources(net, key)]
        if key == "north-hq":
            addrs.append(BLACKHOLE)
        for a in addrs:
            run(["ip", "addr", "add", f"{a}/24" if a == f"{s.prefix}.10" else f"{a}/32",
                 "dev", "eth0"], netns=s.netns)
        run(["ip", "link", "set", "eth0", "up"], netns=s.netns)
        run(["ip", "route", "add", "default", "via", f"{s.prefix}.1"], netns=s.netns)
    run(["ip", "route", "add", "unreachable", "default"], netns=ROUTER)
    # host routes: the two sites via the router; everything else of the range unreachable
    for s in SITES.values():
        run(["ip", "route", "add", f"{s.prefix}.0/24", "via", ROUTER_UPLINK, "dev", HOST_IF])
    run(["ip", "route", "add", "unreachable", LAB_RANGE, "metric", "4000"])
    # router firewall (blocks go into its forward chain) and the blackhole in north
    _nft(f"add table inet {NFT_TABLE}", netns=ROUTER)
    _nft(f"add chain inet {NFT_TABLE} forward {{ type filter hook forward priority 0; "
         "policy accept; }", netns=ROUTER)
    north = SITES["north-hq"].netns
    _nft(f"add table inet {NFT_TABLE}", netns=north)
    _nft(f"add chain inet {NFT_TABLE} input {{ type filter hook input priority 0; "
         "policy accept; }", netns=north)
    _nft(f"add rule inet {NFT_TABLE} input ip daddr {BLACKHOLE} drop", netns=north)


def _build_fallback(net: Network) -> None:
    for addr in _fallback_addresses(net):
        run(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], check=False)
    if shutil.which("nft") is None:
        raise LabError("nft is missing: the loopback fallback needs nftables for its blackhole")
    _nft(f"add table inet {NFT_TABLE}")
    _nft(f"add chain inet {NFT_TABLE} out {{ type filter hook output priority 0; "
         "policy accept; }")
    _nft(f"add rule inet {NFT_TABLE} out ip daddr {FALLBACK_BLACKHOLE} drop")


def _sysctls(ns: str) -> None:
    for key, value in (
        ("net.ipv6.conf.all.disable_ipv6", "1"),
        ("net.ipv6.conf.default.disable_ipv6", "1"),
        ("net.ipv4.ip_forward", "1" if ns == ROUTER else "0"),
    ):
        run(["sysctl", "-qw", f"{key}={value}"], netns=ns)


def _site_resources(net: Network, site: str) -> list[tuple[str, tuple[int, ...]]]:
    prefix = SITES[site].prefix + "."
    return [v for v in net.resources.values() if v[0].startswith(prefix)]


def _fallback_addresses(net: Network | None = None) -> list[str]:
    addrs = [s.fallback_jump for s in SITES.values()]
    if net is None:
        addrs += [f"127.77.8.{n}" for n in range(20, 120)]
    else:
        addrs += [a for a, _ in net.resources.values()]
    return addrs


# --------------------------------------------------------------------------- listeners

# A tiny TCP server: accepts on every address:port given, holds each connection
# until the client closes it (or 30 s), never sends anything.
_LISTENER = r"""
import asyncio, sys
async def handle(reader, writer):
    try:
        await asyncio.wait_for(reader.read(65536), 30)
    except Exception:
        pass
    writer.close()
async def main():
    servers = []
    for spec in sys.argv[1:]:
        host, port = spec.rsplit(":", 1)
        servers.append(await asyncio.start_server(handle, host, int(port), reuse_address=True))
    print("listening", *sys.argv[1:], flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))
asyncio.run(main())
"""


def _start_listeners(net: Network, sup: Supervisor) -> None:
    groups: dict[str | None, list[tuple[str, int]]] = {}
    for site_key in SITES:
        ns = None if net.fallback else SITES[site_key].netns
        for addr, ports in (_site_resources(net, site_key) if not net.fallback else []):
            groups.setdefault(ns, []).extend((addr, p) for p in ports)
    if net.fallback:
        for addr, ports in net.resources.values():
            groups.setdefault(None, []).extend((addr, p) for p in ports)
    for ns, endpoints in groups.items():
        if not endpoints:
            continue
        name = LISTENER_PREFIX + (ns or "loopback")
        first = endpoints[0]
        sup.start(
            name,
            [sys.executable, "-c", _LISTENER, *(f"{a}:{p}" for a, p in endpoints)],
            netns=ns,
            ready=functools.partial(_connectable, *first),
            ready_timeout=15,
        )


def _connectable(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True


# --------------------------------------------------------------------------- helpers


def _nft(command: str, netns: str | None = None) -> None:
    run(["nft", command], netns=netns)


def _block_tag(block: Block) -> str:
    return f"rl-block {block.src_net} {block.dst} {block.port}"


def _block_rule(block: Block, fallback: bool) -> str:
    src = "" if fallback else f"ip saddr {block.src_net} "
    return (f"{src}ip daddr {block.dst} tcp dport {block.port} drop "
            f'comment "{_block_tag(block)}"')


def _kill_netns_pids(ns: str) -> None:
    """Stop stray processes left in one of OUR namespaces (by PID, namespace by name)."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                         check=False).stdout
    pids = [int(p) for p in out.split() if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while pids and time.monotonic() < deadline:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                             check=False).stdout
        if not out.strip():
            return
        time.sleep(0.05)


def _state_file(sup: Supervisor) -> Path:
    return sup.state_dir / "net.json"

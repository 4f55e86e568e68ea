"""Two sites joined by a router: network namespaces, veth pairs, nftables.

Layout at the default slot 77 (lab/slot.py: at slot N, 10.N.x and ``rlN-*``)::

    host (root ns)   rl-host0 10.77.0.1/30
        |
    rl-router        rl-up 10.77.0.2/30 | rl-north 10.77.1.1/24 | rl-south 10.77.2.1/24
        |                                         |
    rl-north-hq  eth0 10.77.1.10/24 (+ .20.. resources, .99 blackhole)
    rl-south-hq  eth0 10.77.2.10/24 (+ .20.. resources)

The host routes 10.77.1.0/24 and 10.77.2.0/24 via the router and keeps an
``unreachable 10.77.0.0/16`` route (higher metric), so no lab packet ever leaves
the machine, even while a link is down. These host routes carry ``proto``
:data:`ROUTE_PROTO`, so teardown removes only routes a lab made (and lab/claim.py
can tell them from a network that is really there). IPv6 is off inside the
namespaces and forwarding is on in the router only.

Resources ("files", "printers", ...) are real TCP listeners: one small Python
process per site, started through the Supervisor inside the site namespace.
The "host that does not answer" (:attr:`Network.blackhole`, or
:func:`blackhole_address` for the default layout) is an address inside the north
namespace whose packets nftables drops there: connecting to it times out.

Fault "cross-site flow blocked": :func:`block_flow` adds a one-way nftables DROP
in the router (packets from a source network to a destination address and TCP
port), so the connection attempt times out while replies and other flows pass.

Where namespaces cannot be created (:func:`namespaces_available` is false) or
``NetSpec.force_loopback`` is set, :func:`start` falls back to loopback: jump
hosts on 127.77.7.1:2201 / 127.77.7.2:2202, resources on 127.77.8.20+, and the
returned :class:`Network` has ``fallback=True``. The blackhole and blocks then
live in an nftables table of the root namespace (``inet rl_lab``) matching only
127.77.8.x destinations; blocks there cannot tell sites apart (src_net ignored).

``NetSpec.slot`` picks the layout: each slot's is independent of the others', so
labs and tests on different slots run side by side.
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
from .slot import DEFAULT_SLOT, Slot

# --------------------------------------------------------------------------- specs

SITE_KEYS = ("north-hq", "south-hq")
ROUTE_PROTO = "177"  # `ip route add ... proto 177`: the host routes a lab made


@dataclass(frozen=True)
class Resource:
    """A TCP resource at a site, e.g. a file share (445) or a printer (9100, 631)."""

    name: str  # e.g. "north-files"
    site: str  # "north-hq" or "south-hq"
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
    slot: Slot = DEFAULT_SLOT  # 10.N.x.y inside, 127.N.7-8.x in the fallback, rlN-* names


@dataclass
class SiteNet:
    site: str
    netns: str | None  # None in the loopback fallback
    subnet: str  # "10.77.1.0/24" (fallback: "127.77.7.1/32")
    jump_address: str  # 10.77.1.10 or 127.77.7.1
    jump_port: int  # 22 or 2201
    resolver: str  # 10.77.0.1 (host end of the router link) or 127.77.0.53


@dataclass
class Network:
    """What :func:`start` built; also written to ``<state>/net.json`` (see :func:`load`)."""

    fallback: bool  # True: no namespaces, everything on loopback
    sites: dict[str, SiteNet]
    resources: dict[str, tuple[str, tuple[int, ...]]]  # name -> (address, ports)
    blackhole: str  # an address that never answers
    blocks: list[Block] = field(default_factory=list)
    prefix: str = field(kw_only=True)  # of the slot's names: "rl" (slot 77), "rl120" ...
    octet: int = field(kw_only=True)  # the slot
    host_address: str = field(kw_only=True)  # host end of the host<->router link
    router_netns: str | None = field(kw_only=True)


# --------------------------------------------------------------------------- public API


def namespaces_available() -> bool:
    """True if this machine lets us create network namespaces and veth pairs."""
    if shutil.which("ip") is None or shutil.which("nft") is None:
        return False
    probe = f"rl-probe-{os.getpid()}"  # unique: two labs may probe at once
    with contextlib.suppress(LabError, OSError):
        run(["ip", "netns", "del", probe], check=False)
        run(["ip", "netns", "add", probe])
        try:
            run(
                ["ip", "link", "add", "rl-probe-a", "type", "veth", "peer", "name", "rl-probe-b"],
                netns=probe,
            )
            return True
        finally:
            run(["ip", "netns", "del", probe], check=False)
    return False


def plan(spec: NetSpec, *, fallback: bool) -> Network:
    """The addresses :func:`start` will use, without building anything.

    Deterministic, so DNS zones and the inventory can be written from it first.
    """
    lay = _Layout(spec.slot)
    sites: dict[str, SiteNet] = {}
    for i, key in enumerate(SITE_KEYS, start=1):
        if fallback:
            jump = lay.slot.host(7, i)
            sites[key] = SiteNet(key, None, f"{jump}/32", jump, 2200 + i, lay.slot.dns)
        else:
            sites[key] = SiteNet(
                key,
                lay.site_ns(key),
                f"{lay.subnet(key)}.0/24",
                f"{lay.subnet(key)}.10",
                22,
                lay.host_address,
            )
    resources: dict[str, tuple[str, tuple[int, ...]]] = {}
    counters = dict.fromkeys(SITE_KEYS, 20)
    fallback_n = 20
    for r in spec.resources:
        if r.site not in SITE_KEYS:
            raise LabError(f"resource {r.name}: unknown site {r.site!r} (known: {SITE_KEYS})")
        if fallback:
            resources[r.name] = (lay.slot.host(8, fallback_n), r.ports)
            fallback_n += 1
        else:
            resources[r.name] = (f"{lay.subnet(r.site)}.{counters[r.site]}", r.ports)
            counters[r.site] += 1
    return Network(
        fallback,
        sites,
        resources,
        blackhole_address(spec.slot, fallback),
        list(spec.blocks),
        prefix=spec.slot.prefix,
        octet=spec.slot.number,
        host_address=lay.host_address,
        router_netns=None if fallback else lay.router,
    )


def start(spec: NetSpec, sup: Supervisor) -> Network:
    """Build the two sites (or the loopback fallback) and start the resource listeners.

    Removes leftovers of an earlier run of the same layout first. Returns the
    :class:`Network` (``fallback`` says whether namespaces were used) and writes
    it to ``<state>/net.json``.
    """
    teardown(sup, spec.slot)
    fallback = spec.force_loopback or not namespaces_available()
    net = plan(spec, fallback=fallback)
    try:
        if fallback:
            _build_fallback(net)
        else:
            _build_namespaces(net)
        _start_listeners(net, sup)
        net.blocks = []
        for b in spec.blocks:
            block_flow(net, b)
    except BaseException:
        teardown(sup, spec.slot)
        raise
    save(net, sup)
    return net


def stop(sup: Supervisor) -> None:
    """Stop the listeners and remove the namespaces, links, routes and nftables tables
    that :func:`start` recorded in ``net.json`` (without it, only the listeners)."""
    net = load(sup)
    if net is None:
        _stop_listeners(sup)
    else:
        teardown(sup, Slot(net.octet))


def blackhole_address(slot: Slot, fallback: bool = False) -> str:
    """The slot's address that never answers (10.N.1.99, or 127.N.8.99 in the fallback).

    Packets to it are silently dropped by nftables, so a TCP connect times out.
    """
    return slot.host(8, 99) if fallback else slot.site(1, 99)


def block_flow(net: Network, block: Block) -> None:
    """Fault: drop packets from ``block.src_net`` to ``block.dst``:``block.port`` (one way).

    ``net`` is what :func:`start` returned (or :func:`load`); call :func:`save`
    afterwards if another process should see the block in ``net.json``.
    """
    lay = _Layout(Slot(net.octet))
    src = "" if net.fallback else f"ip saddr {block.src_net} "
    rule = f'{src}ip daddr {block.dst} tcp dport {block.port} drop comment "{_tag(block)}"'
    chain, ns = ("out", None) if net.fallback else ("forward", lay.router)
    _nft(f"add rule inet {lay.table} {chain} {rule}", netns=ns)
    if block not in net.blocks:
        net.blocks.append(block)


def unblock_flow(net: Network, block: Block) -> None:
    """Remove a block added by :func:`block_flow` (no error if it is not there)."""
    lay = _Layout(Slot(net.octet))
    chain, ns = ("out", None) if net.fallback else ("forward", lay.router)
    listing = run(
        ["nft", "-a", "list", "chain", "inet", lay.table, chain], netns=ns, check=False
    ).stdout
    for line in listing.splitlines():
        if f'"{_tag(block)}"' in line and "# handle " in line:
            handle = line.rsplit("# handle ", 1)[1].strip()
            _nft(f"delete rule inet {lay.table} {chain} handle {handle}", netns=ns)
    if block in net.blocks:
        net.blocks.remove(block)


def save(net: Network, sup: Supervisor) -> None:
    """Write ``net`` to ``<state>/net.json``."""
    _state_file(sup).write_text(json.dumps(asdict(net), indent=1))


def load(sup: Supervisor) -> Network | None:
    """The :class:`Network` written by the last :func:`start` in this state folder."""
    path = _state_file(sup)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw["sites"] = {k: SiteNet(**v) for k, v in raw["sites"].items()}
    raw["resources"] = {k: (v[0], tuple(v[1])) for k, v in raw["resources"].items()}
    raw["blocks"] = [Block(**b) for b in raw["blocks"]]
    return Network(**raw)


def teardown(sup: Supervisor, slot: Slot) -> None:
    """Remove everything this module may have created for ``slot`` (idempotent).

    Only for a slot the caller holds (lab/claim.py): its names and addresses are then
    no one else's. Host routes go only if a lab made them (``proto`` ROUTE_PROTO);
    the routes to the sites go with the link they use.
    """
    lay = _Layout(slot)
    _stop_listeners(sup)
    for ns in (*(lay.site_ns(k) for k in SITE_KEYS), lay.router, *_namespaces_of(slot)):
        kill_netns_pids(ns)
        run(["ip", "netns", "del", ns], check=False)
    run(["ip", "link", "del", lay.host_if], check=False)
    run(
        [
            "ip",
            "route",
            "del",
            "unreachable",
            lay.lab_range,
            "metric",
            _UNREACHABLE_METRIC,
            "proto",
            ROUTE_PROTO,
        ],
        check=False,
    )
    if shutil.which("nft"):
        run(["nft", "delete", "table", "inet", lay.table], check=False)
    for addr in lay.fallback_addresses():
        run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], check=False)
    with contextlib.suppress(FileNotFoundError):
        _state_file(sup).unlink()


# --------------------------------------------------------------------------- layout

LISTENER_PREFIX = "net-listener-"
_UNREACHABLE_METRIC = "4000"


@dataclass(frozen=True)
class _Layout:
    slot: Slot

    @property
    def router(self) -> str:
        return self.slot.router_ns

    @property
    def host_if(self) -> str:
        return self.slot.host_if

    @property
    def host_address(self) -> str:
        return self.slot.dns_site

    @property
    def router_uplink(self) -> str:
        return self.slot.site(0, 2)

    @property
    def lab_range(self) -> str:
        return self.slot.site_range

    @property
    def table(self) -> str:
        return f"{self.slot.prefix}_lab"

    def site_ns(self, key: str) -> str:
        return self.slot.site_ns(key)

    def subnet(self, key: str) -> str:
        return f"10.{self.slot.number}.{SITE_KEYS.index(key) + 1}"

    def router_if(self, key: str) -> str:
        return f"{self.slot.prefix}-{key.split('-')[0]}"

    def fallback_addresses(self) -> list[str]:
        return [self.slot.host(7, i) for i in range(1, len(SITE_KEYS) + 1)] + [
            self.slot.host(8, n) for n in range(20, 100)
        ]


# --------------------------------------------------------------------------- building


def _build_namespaces(net: Network) -> None:
    lay = _Layout(Slot(net.octet))
    run(["ip", "netns", "add", lay.router])
    for key in SITE_KEYS:
        run(["ip", "netns", "add", lay.site_ns(key)])
    for ns in (lay.router, *(lay.site_ns(k) for k in SITE_KEYS)):
        for key, value in (
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
            ("net.ipv4.ip_forward", "1" if ns == lay.router else "0"),
        ):
            run(["sysctl", "-qw", f"{key}={value}"], netns=ns)
        run(["ip", "link", "set", "lo", "up"], netns=ns)
    # host <-> router
    run(
        [
            "ip",
            "link",
            "add",
            lay.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "up0",
            "netns",
            lay.router,
        ]
    )
    run(["ip", "addr", "add", f"{lay.host_address}/30", "dev", lay.host_if])
    run(["ip", "link", "set", lay.host_if, "up"])
    run(["ip", "addr", "add", f"{lay.router_uplink}/30", "dev", "up0"], netns=lay.router)
    run(["ip", "link", "set", "up0", "up"], netns=lay.router)
    # router <-> sites
    for key in SITE_KEYS:
        ns, sub, rif = lay.site_ns(key), lay.subnet(key), lay.router_if(key)
        run(
            ["ip", "link", "add", rif, "type", "veth", "peer", "name", "eth0", "netns", ns],
            netns=lay.router,
        )
        run(["ip", "addr", "add", f"{sub}.1/24", "dev", rif], netns=lay.router)
        run(["ip", "link", "set", rif, "up"], netns=lay.router)
        run(["ip", "addr", "add", f"{sub}.10/24", "dev", "eth0"], netns=ns)
        extra = [a for a, _ in _site_resources(net, key)]
        if net.blackhole.startswith(sub + "."):
            extra.append(net.blackhole)
        for a in extra:
            run(["ip", "addr", "add", f"{a}/32", "dev", "eth0"], netns=ns)
        run(["ip", "link", "set", "eth0", "up"], netns=ns)
        run(["ip", "route", "add", "default", "via", f"{sub}.1"], netns=ns)
    run(["ip", "route", "add", "unreachable", "default"], netns=lay.router)
    # host: the sites via the router; everything else of the range unreachable
    for key in SITE_KEYS:
        run(
            [
                "ip",
                "route",
                "add",
                f"{lay.subnet(key)}.0/24",
                "via",
                lay.router_uplink,
                "dev",
                lay.host_if,
                "proto",
                ROUTE_PROTO,
            ]
        )
    run(
        [
            "ip",
            "route",
            "add",
            "unreachable",
            lay.lab_range,
            "metric",
            _UNREACHABLE_METRIC,
            "proto",
            ROUTE_PROTO,
        ]
    )
    # router firewall (blocks go into its forward chain) and the blackhole
    _nft(f"add table inet {lay.table}", netns=lay.router)
    _nft(
        f"add chain inet {lay.table} forward {{ type filter hook forward priority 0; "
        "policy accept; }",
        netns=lay.router,
    )
    hole_ns = lay.site_ns("north-hq")
    _nft(f"add table inet {lay.table}", netns=hole_ns)
    _nft(
        f"add chain inet {lay.table} input {{ type filter hook input priority 0; policy accept; }}",
        netns=hole_ns,
    )
    _nft(f"add rule inet {lay.table} input ip daddr {net.blackhole} drop", netns=hole_ns)


def _build_fallback(net: Network) -> None:
    lay = _Layout(Slot(net.octet))
    addrs = [s.jump_address for s in net.sites.values()]
    addrs += [a for a, _ in net.resources.values()]
    for addr in addrs:
        run(["ip", "addr", "replace", f"{addr}/32", "dev", "lo"])
    if shutil.which("nft") is None:
        raise LabError("nft is missing: the loopback fallback needs nftables for its blackhole")
    _nft(f"add table inet {lay.table}")
    _nft(f"add chain inet {lay.table} out {{ type filter hook output priority 0; policy accept; }}")
    _nft(f"add rule inet {lay.table} out ip daddr {net.blackhole} drop")


def _site_resources(net: Network, site: str) -> list[tuple[str, tuple[int, ...]]]:
    prefix = _Layout(Slot(net.octet)).subnet(site) + "."
    return [v for v in net.resources.values() if v[0].startswith(prefix)]


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
    lay = _Layout(Slot(net.octet))
    groups: dict[str | None, list[tuple[str, int]]] = {}
    if net.fallback:
        for addr, ports in net.resources.values():
            groups.setdefault(None, []).extend((addr, p) for p in ports)
    else:
        for key in SITE_KEYS:
            for addr, ports in _site_resources(net, key):
                groups.setdefault(lay.site_ns(key), []).extend((addr, p) for p in ports)
    for ns, endpoints in groups.items():
        name = LISTENER_PREFIX + (ns or f"{net.prefix}-loopback")
        sup.start(
            name,
            [sys.executable, "-c", _LISTENER, *(f"{a}:{p}" for a, p in endpoints)],
            netns=ns,
            ready=functools.partial(_connectable, *endpoints[0]),
            ready_timeout=15,
        )


def _stop_listeners(sup: Supervisor) -> None:
    for m in sup.processes():
        if m.name.startswith(LISTENER_PREFIX):
            sup.stop(m.name)


def _connectable(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True


# --------------------------------------------------------------------------- helpers


def _nft(command: str, netns: str | None = None) -> None:
    run(["nft", command], netns=netns)


def _tag(block: Block) -> str:
    return f"rl-block {block.src_net} {block.dst} {block.port}"


def _namespaces_of(slot: Slot) -> list[str]:
    """Every namespace named for ``slot``: also those of the layers above this module
    (the internet, a gateway) that a lab which died left behind on the slot."""
    out = run(["ip", "netns", "list"], check=False).stdout
    names = (line.split()[0] for line in out.splitlines() if line.strip())
    return [ns for ns in names if ns.startswith(f"{slot.prefix}-")]


def kill_netns_pids(ns: str) -> None:
    """SIGTERM stray processes left inside one of OUR namespaces (by PID), briefly wait."""

    def pids() -> list[int]:
        out = subprocess.run(
            ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split() if p.isdigit()]

    for pid in pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while pids() and time.monotonic() < deadline:
        time.sleep(0.05)


def _state_file(sup: Supervisor) -> Path:
    return sup.state_dir / "net.json"

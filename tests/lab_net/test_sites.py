"""Two sites behind a router (network namespaces) with OpenSSH jump hosts, checked with
ssh, ip and nft: key login with host-key verification, direct-tcpip across the router,
the one-way firewall block, the blackhole, teardown; and the loopback fallback."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from readiness_lab import netns, ssh
from readiness_lab.claim import SlotInUse, claim, claimed
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot

from .tools import all_gone, sh, times_out

pytestmark = pytest.mark.integration

RESOURCES = [
    netns.Resource("north-files", "north-hq", (445,)),
    netns.Resource("south-printers", "south-hq", (9100, 631)),
]


@dataclass
class Sites:
    slot: Slot
    sup: Supervisor
    net: netns.Network
    ssh: ssh.SshLab


def _jumps(net: netns.Network) -> list[ssh.JumpHost]:
    return [
        ssh.JumpHost(k, s.jump_address, s.jump_port, s.netns, (f"jump.{k}.test",))
        for k, s in net.sites.items()
    ]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, net_slot: Slot) -> Iterator[Sites]:
    if not netns.namespaces_available():
        pytest.fail("this machine cannot create network namespaces: the lab would fall back")
    sup = Supervisor(tmp_path_factory.mktemp("sites"))
    south_printer = net_slot.site(2, 20)
    spec = netns.NetSpec(
        RESOURCES, [netns.Block(net_slot.site(1, 0) + "/24", south_printer, 631)], slot=net_slot
    )
    net = netns.start(spec, sup)
    try:
        lab = ssh.start(ssh.SshSpec(_jumps(net)), sup)
        yield Sites(net_slot, sup, net, lab)
    finally:
        ssh.stop(sup)
        netns.stop(sup)


def through(s: Sites, site: str, target: str, port: int) -> list[str]:
    """ssh -W: open a direct-tcpip channel from a site's jump host to target:port."""
    return ssh.ssh_command(s.ssh, site, "-W", f"{target}:{port}")


def test_namespaces_router_and_host_routes(sites: Sites) -> None:
    assert not sites.net.fallback
    slot = sites.slot
    names = sh(["ip", "netns", "list"]).stdout
    for ns in (slot.router_ns, slot.site_ns("north-hq"), slot.site_ns("south-hq")):
        assert ns in names
    assert (
        sh(
            ["ip", "netns", "exec", slot.router_ns, "sysctl", "-n", "net.ipv4.ip_forward"]
        ).stdout.strip()
        == "1"
    )
    assert (
        sh(
            [
                "ip",
                "netns",
                "exec",
                slot.site_ns("north-hq"),
                "sysctl",
                "-n",
                "net.ipv6.conf.all.disable_ipv6",
            ]
        ).stdout.strip()
        == "1"
    )
    routes = sh(["ip", "route"]).stdout
    assert f"unreachable {slot.site_range} proto {netns.ROUTE_PROTO}" in routes
    assert f"{slot.site(2, 0)}/24 via {slot.site(0, 2)}" in routes
    # An address of the range that is not behind the router is refused on the host.
    with pytest.raises(OSError):
        socket.create_connection((slot.site(200, 1), 80), timeout=2)


def test_key_login_with_verified_host_key(sites: Sites) -> None:
    for site in ("north-hq", "south-hq"):
        r = sh([*ssh.ssh_command(sites.ssh, site), "echo", "vantage-ok"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "vantage-ok"
    # By DNS name too (the known_hosts file lists the names given).
    address, _port = sites.ssh.hosts["north-hq"]
    cmd = ssh.ssh_command(sites.ssh, "north-hq")
    cmd[-1] = "readiness@jump.north-hq.test"
    cmd[cmd.index("-F") : cmd.index("-F")] = [
        "-o",
        f"HostName={address}",
        "-o",
        "HostKeyAlias=jump.north-hq.test",
    ]
    assert sh([*cmd, "true"]).returncode == 0


def test_unknown_host_key_and_passwords_are_refused(sites: Sites, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cmd = [
        a.replace(str(sites.ssh.known_hosts), str(empty))
        for a in ssh.ssh_command(sites.ssh, "north-hq")
    ]
    r = sh([*cmd, "true"])
    assert r.returncode == 255 and "Host key verification failed" in r.stderr
    # The other site's host key does not match this one (each jump host has its own).
    keys = sites.ssh.known_hosts.read_text().splitlines()
    north = next(k for k in keys if k.startswith(sites.ssh.hosts["north-hq"][0] + " "))
    south = next(k for k in keys if k.startswith(sites.ssh.hosts["south-hq"][0] + " "))
    assert north.split()[2] != south.split()[2]
    r = sh(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            f"UserKnownHostsFile={sites.ssh.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            f"readiness@{sites.ssh.hosts['north-hq'][0]}",
            "true",
        ]
    )
    assert r.returncode == 255 and "Permission denied" in r.stderr


def test_direct_tcpip_to_a_resource_at_the_other_site(sites: Sites) -> None:
    printer, _ = sites.net.resources["south-printers"]
    files, _ = sites.net.resources["north-files"]
    r = sh(through(sites, "north-hq", printer, 9100), timeout=15)
    assert r.returncode == 0, r.stderr
    r = sh(through(sites, "south-hq", files, 445), timeout=15)
    assert r.returncode == 0, r.stderr
    # A closed port is refused at once (the jump host reports the failed open).
    r = sh(through(sites, "north-hq", printer, 22), timeout=15)
    assert r.returncode == 255 and "open failed" in r.stderr


def test_blocked_flow_times_out_one_way(sites: Sites) -> None:
    printer, _ = sites.net.resources["south-printers"]
    # north -> south printer:631 is dropped in the router: no answer at all.
    assert times_out(through(sites, "north-hq", printer, 631), 4)
    # Other flows pass: the same port from the south site and from the host ...
    assert sh(through(sites, "south-hq", printer, 631), timeout=15).returncode == 0
    socket.create_connection((printer, 631), timeout=3).close()
    # ... and the rule is in the router's nftables.
    rules = sh(["ip", "netns", "exec", sites.slot.router_ns, "nft", "list", "ruleset"]).stdout
    assert f"ip daddr {printer} tcp dport 631 drop" in rules


def test_fault_switch_on_a_running_lab(sites: Sites) -> None:
    printer, _ = sites.net.resources["south-printers"]
    block = sites.net.blocks[0]
    netns.unblock_flow(sites.net, block)
    try:
        assert sh(through(sites, "north-hq", printer, 631), timeout=15).returncode == 0
    finally:
        netns.block_flow(sites.net, block)
    assert times_out(through(sites, "north-hq", printer, 631), 3)


def test_blackhole_does_not_answer(sites: Sites) -> None:
    hole = sites.net.blackhole
    assert hole == sites.slot.site(1, 99) == netns.blackhole_address(sites.slot)
    assert netns.blackhole_address(Slot()) == "10.77.1.99"  # the lab's default layout
    with pytest.raises(TimeoutError):
        socket.create_connection((hole, 445), timeout=2)
    assert times_out(through(sites, "south-hq", hole, 445), 3)


def test_stop_leaves_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("sites-stop")
    with claimed(state) as slot:  # a second layout, next to the module's
        sup = Supervisor(state)
        sh(["ip", "netns", "add", slot.internet_ns])  # as a lab that died leaves it
        net = netns.start(netns.NetSpec(RESOURCES, slot=slot), sup)
        ssh.start(ssh.SshSpec(_jumps(net)), sup)
        pids = [m.pid for m in sup.processes()]
        assert len(pids) == 4  # two listeners, two sshd
        assert sorted(ssh.stop(sup)) == ["sshd-north-hq", "sshd-south-hq"]
        assert slot.internet_ns not in sh(["ip", "netns", "list"]).stdout
        netns.stop(sup)
        assert all_gone(pids)
        assert sup.processes() == []
        assert f"{slot.prefix}-" not in sh(["ip", "netns", "list"]).stdout
        assert f"10.{slot.number}." not in sh(["ip", "route"]).stdout
        assert slot.host_if not in sh(["ip", "link"]).stdout


def test_stop_removes_only_routes_a_lab_made(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A route of the slot's range that no lab made (here: one this test adds, untagged,
    next to the lab's own) survives the lab's teardown; the lab's own routes do not."""
    state = tmp_path_factory.mktemp("sites-foreign-route")
    with claimed(state) as slot:
        foreign = ["unreachable", slot.site_range, "metric", "4001"]
        sh(["ip", "route", "add", *foreign])
        try:
            sup = Supervisor(state)
            netns.start(netns.NetSpec(RESOURCES, slot=slot), sup)
            netns.stop(sup)
            ours = [
                line.strip()
                for line in sh(["ip", "route"]).stdout.splitlines()
                if f"10.{slot.number}." in line
            ]
            assert ours == [f"unreachable {slot.site_range} metric 4001"]
        finally:
            sh(["ip", "route", "del", *foreign])


def test_a_slot_whose_range_is_routed_here_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A network on 10.N.0.0/16 that is not a lab's (here: a route this test adds) makes
    slot N unusable: the lab's routes would shadow it."""
    state = tmp_path_factory.mktemp("sites-routed")
    with claimed(state) as slot:
        foreign = ["unreachable", slot.site(5, 0) + "/24"]
        sh(["ip", "route", "add", *foreign])
        try:
            with pytest.raises(
                SlotInUse,
                match=f"route {slot.site(5, 0)}/24 covers "
                f"{slot.site_range} and no lab of slot {slot.number} made it",
            ):
                claim(state, slot.number)
        finally:
            sh(["ip", "route", "del", *foreign])
        assert claim(state, slot.number) == slot.number


def test_loopback_fallback(tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("fallback")
    with claimed(state) as slot:  # a second layout, next to the module's
        sup = Supervisor(state)
        printer = slot.host(8, 21)
        spec = netns.NetSpec(
            RESOURCES, [netns.Block("0.0.0.0/0", printer, 631)], force_loopback=True, slot=slot
        )
        net = netns.start(spec, sup)
        try:
            assert net.fallback
            assert net.sites["north-hq"].jump_address == slot.host(7, 1)
            assert net.sites["south-hq"].jump_port == 2202
            assert net.resources["south-printers"] == (printer, (9100, 631))
            lab = ssh.start(ssh.SshSpec(_jumps(net)), sup)
            s = Sites(slot, sup, net, lab)
            assert sh([*ssh.ssh_command(lab, "north-hq"), "true"]).returncode == 0
            assert sh(through(s, "north-hq", printer, 9100), timeout=15).returncode == 0
            assert times_out(through(s, "north-hq", printer, 631), 3)
            with pytest.raises(TimeoutError):
                socket.create_connection((net.blackhole, 445), timeout=2)
        finally:
            ssh.stop(sup)
            netns.stop(sup)
        assert f"127.{slot.number}." not in sh(["ip", "addr", "show", "lo"]).stdout
        assert (
            f"{slot.prefix}_lab"
            not in subprocess.run(
                ["nft", "list", "tables"], capture_output=True, text=True, check=False
            ).stdout
        )


def test_labs_starting_together_create_the_ssh_user_once() -> None:
    """Labs and test runs that start at the same moment all ensure the same system user:
    none fails on the user another one just created, or on the passwd lock it holds."""
    user = f"rdt-race-{os.getpid()}"
    code = f"from readiness_lab.ssh import ensure_user; ensure_user({user!r})"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
        assert pwd.getpwnam(user).pw_shell == "/usr/sbin/nologin"
    finally:
        sh(["userdel", user])

"""OpenSSH jump hosts: each site's vantage point.

One ``sshd`` per site, inside the site namespace (10.N.x.10:22, N: the lab's
slot) or, in the loopback fallback, on 127.N.7.1:2201 / 127.N.7.2:2202. Each has
its own config and its own host key; the lab writes ``<state>/ssh/known_hosts``
for the inventory. Login is key-only as the system user ``readiness`` (created if
missing, password field ``*``); the private half of the lab-generated client key
(``<state>/ssh/readiness.key``, mode 0600) is a lab secret. TCP forwarding
(direct-tcpip) is allowed, so the sweep opens connections through the jump host.

Typical use (lab/up.py)::

    jumps = [ssh.JumpHost(site, s.jump_address, s.jump_port, s.netns, (name,))
             for site, s in network.sites.items()]
    lab = ssh.start(ssh.SshSpec(jumps), sup)
    # lab.known_hosts, lab.private_key, lab.user ...
    ssh.stop(sup)
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .process import LabError, Supervisor, run

# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class JumpHost:
    """One site's jump host."""

    site: str  # e.g. "north-hq"
    address: str  # 10.N.1.10 (namespace) or 127.N.7.1 (fallback)
    port: int  # 22 or 2201
    netns: str | None = None  # run sshd inside this namespace
    names: tuple[str, ...] = ()  # DNS names for known_hosts, e.g. jump.north-hq.northvale.test


@dataclass
class SshSpec:
    jump_hosts: list[JumpHost]
    user: str = "readiness"
    home: Path = Path("/var/lib/readiness-lab")  # home of the system user if created


@dataclass
class SshLab:
    """What :func:`start` set up."""

    user: str
    private_key: Path  # a secret (0600): the inventory refers to it with file:
    public_key: Path
    known_hosts: Path
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)  # site -> (address, port)


# --------------------------------------------------------------------------- public API

PROCESS_PREFIX = "sshd-"


def start(spec: SshSpec, sup: Supervisor) -> SshLab:
    """Create the user and keys, write configs, check them with ``sshd -t``, start sshd.

    Each sshd is started through the Supervisor (``sshd -D -e``), named
    ``sshd-<site>``, and is ready once its port accepts TCP connections.
    """
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        raise LabError("sshd is missing (Debian package openssh-server)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    base = sup.state_dir / "ssh"
    base.mkdir(parents=True, exist_ok=True)
    ensure_user(spec.user, spec.home)
    key = base / "readiness.key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "readiness-lab", "-f", str(key)])
    key.chmod(0o600)
    pub = key.with_suffix(".key.pub")
    authorized = base / "authorized_keys"
    authorized.write_text(pub.read_text())
    authorized.chmod(0o644)
    known: list[str] = []
    hosts: dict[str, tuple[str, int]] = {}
    for jh in spec.jump_hosts:
        hdir = base / jh.site
        hdir.mkdir(exist_ok=True)
        host_key = hdir / "ssh_host_ed25519_key"
        if not host_key.exists():
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"jump-{jh.site}",
                    "-f",
                    str(host_key),
                ]
            )
        cfg = hdir / "sshd_config"
        cfg.write_text(_config(jh, spec.user, host_key, authorized, hdir / "sshd.pid"))
        run([sshd, "-t", "-f", str(cfg)], netns=jh.netns)
        host_pub = Path(str(host_key) + ".pub").read_text().split()
        for n in (jh.address, *jh.names):
            label = n if jh.port == 22 else f"[{n}]:{jh.port}"
            known.append(f"{label} {host_pub[0]} {host_pub[1]}")
        sup.start(
            PROCESS_PREFIX + jh.site,
            [sshd, "-D", "-e", "-f", str(cfg)],
            netns=jh.netns,
            ready=functools.partial(_connectable, jh.address, jh.port),
            ready_timeout=15,
        )
        hosts[jh.site] = (jh.address, jh.port)
    known_hosts = base / "known_hosts"
    known_hosts.write_text("\n".join(known) + "\n")
    return SshLab(spec.user, key, pub, known_hosts, hosts)


def stop(sup: Supervisor) -> list[str]:
    """Stop every sshd this module started (by PID); returns their names."""
    stopped: list[str] = []
    for m in sup.processes():
        if m.name.startswith(PROCESS_PREFIX):
            stopped += sup.stop(m.name)
    return stopped


_USER_ATTEMPTS = 25  # 0.2 s apart


def ensure_user(user: str, home: Path | None = None) -> None:
    """Create the system user if missing, for key-only logins (password field ``*``);
    without ``home``, the user has no home and no shell (TCP forwarding only).

    Other labs and test runs may do the same at the same moment: a user they created
    meanwhile is fine, and a passwd file they hold locked is waited for.
    """
    for attempt in range(_USER_ATTEMPTS):
        try:
            if not _user_exists(user):
                where = (
                    ["--home-dir", str(home), "--create-home", "--shell", "/bin/sh"]
                    if home
                    else [
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                    ]
                )
                run(["useradd", "--system", *where, user])
            # '!' (locked) would refuse even key logins without PAM; '*' refuses passwords.
            if _password_field(user) != "*":
                run(["usermod", "-p", "*", user])
            return
        except LabError:
            if attempt == _USER_ATTEMPTS - 1:
                raise
            time.sleep(0.2)


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _password_field(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            return rest.split(":", 1)[0]
    return ""


# --------------------------------------------------------------------------- internals


def _config(jh: JumpHost, user: str, host_key: Path, authorized: Path, pid: Path) -> str:
    return f"""# jump host of site {jh.site} (written by the readiness lab)
ListenAddress {jh.address}:{jh.port}
AddressFamily inet
HostKey {host_key}
PidFile {pid}
# sshd reads AuthorizedKeysFile as the user, who cannot enter a private (0700) state
# folder; the command runs as root and prints the lab's authorized keys.
AuthorizedKeysFile none
AuthorizedKeysCommand /bin/cat {authorized}
AuthorizedKeysCommandUser root
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {user}
AllowTcpForwarding yes
PermitOpen any
GatewayPorts no
X11Forwarding no
PermitTunnel no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 20
ClientAliveInterval 30
LogLevel INFO
"""


def _connectable(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=0.5) as s:
        s.settimeout(2)
        return s.recv(4).startswith(b"SSH-")


def ssh_command(lab: SshLab, site: str, *extra: str) -> list[str]:
    """An ``ssh`` command line to a jump host with strict host-key checking (for tests)."""
    address, port = lab.hosts[site]
    return [
        "ssh",
        "-i",
        str(lab.private_key),
        "-p",
        str(port),
        "-o",
        f"UserKnownHostsFile={lab.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ConnectTimeout=5",
        "-F",
        os.devnull,
        *extra,
        f"{lab.user}@{address}",
    ]

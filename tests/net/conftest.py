"""Fixtures of the TLS and certificate tests.

* ``pki`` (unit): a CA and one server certificate per fault kind, as PEM files.
* ``loopback`` (integration): a random address in 127.201.0.0/16, claimed with an
  exclusive lock under /run/readiness-tests/ so concurrent test runs never collide.
* ``tls_servers`` (integration): real servers on that address, started and stopped by
  PID: one ``openssl s_server`` per certificate kind and one TLS 1.1 only, nginx
  speaking plain HTTP, a listener that never answers, and a closed port.
* ``jump_host`` (integration): OpenSSH ``sshd`` on that address (the pattern of
  tests/checks/conftest.py) and the project's own SSH vantage point through it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from readiness.family import RunContext
from readiness.inventory import load
from readiness.net.vantage import SSHVantage
from readiness_lab.process import Supervisor, run, tcp_ready

from .certs import Issued, build, make_ca

SERVER_NAME = "good.test"
LOCKS = Path("/run/readiness-tests")


# --------------------------------------------------------------------------- certificates


@dataclass
class Pki:
    ca: Issued
    ca_file: Path
    issued: dict[str, Issued]
    files: dict[str, tuple[Path, Path]]  # kind -> (certificate chain, key)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca = make_ca("Readiness Test Root CA")
    other_ca = make_ca("Someone Else's CA")
    issued = {
        "good": build(SERVER_NAME, issuer=ca),
        "expired": build(
            SERVER_NAME,
            issuer=ca,
            not_before=now - dt.timedelta(days=90),
            not_after=now - dt.timedelta(days=1),
        ),
        "wrong-name": build("other.test", issuer=ca),
        "unknown-ca": build(SERVER_NAME, issuer=other_ca),
        "self-signed": build(SERVER_NAME),
    }
    ca_file, _ = ca.write(folder, "ca")
    files = {kind: cert.write(folder, kind) for kind, cert in issued.items()}
    return Pki(ca, ca_file, issued, files)


# --------------------------------------------------------------------------- loopback


@contextlib.contextmanager
def claimed_loopback() -> Iterator[str]:
    """A random 127.201.x.y no other test run holds, until the block ends."""
    LOCKS.mkdir(mode=0o755, exist_ok=True)
    pick = random.SystemRandom()
    for _ in range(500):
        address = f"127.201.{pick.randrange(256)}.{pick.randrange(1, 255)}"
        path = LOCKS / f"{address}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The previous holder may have removed the file between our open and lock.
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            continue
        try:
            yield address
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)
        return
    raise RuntimeError(f"no free address in 127.201.0.0/16 (locks in {LOCKS})")


@pytest.fixture(scope="session")
def loopback() -> Iterator[str]:
    with claimed_loopback() as address:
        yield address


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- servers


@dataclass
class Servers:
    address: str
    ports: dict[str, int]  # kind -> port


def _s_server(
    supervisor: Supervisor, name: str, address: str, files: tuple[Path, Path], *options: str
) -> int:
    port = free_port(address)
    cert, key = files
    supervisor.start(
        name,
        [
            "openssl",
            "s_server",
            "-accept",
            f"{address}:{port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-www",
            "-quiet",
            *options,
        ],
        ready=tcp_ready(address, port),
        ready_timeout=15,
    )
    return port


def _nginx(supervisor: Supervisor, folder: Path, address: str) -> int:
    """nginx serving plain HTTP: what a client meets on a port without TLS."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx (Debian package nginx) is not installed: the TLS tests need it")
    port = free_port(address)
    folder.mkdir(parents=True, exist_ok=True)
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 16; }}
http {{
    access_log off;
    {temp}
    server {{ listen {address}:{port}; return 200 "plain text\\n"; }}
}}
""")
    supervisor.start(
        "nginx",
        ["nginx", "-c", str(conf), "-e", f"{folder}/error.log"],
        ready=tcp_ready(address, port),
        ready_timeout=15,
    )
    return port


@pytest.fixture(scope="session")
def tls_servers(
    loopback: str, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl (Debian package openssl) is not installed: the TLS tests need it")
    base = tmp_path_factory.mktemp("tls-servers")
    supervisor = Supervisor(base / "state")
    # Accepts connections (the kernel completes them) and never says a word.
    silent = socket.socket()
    silent.bind((loopback, 0))
    silent.listen(16)
    try:
        ports = {
            kind: _s_server(supervisor, f"s_server-{kind}", loopback, files)
            for kind, files in pki.files.items()
        }
        ports["tls1.1"] = _s_server(
            supervisor,
            "s_server-tls1.1",
            loopback,
            pki.files["good"],
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        )
        ports["plain"] = _nginx(supervisor, base / "nginx", loopback)
        ports["silent"] = int(silent.getsockname()[1])
        ports["closed"] = free_port(loopback)  # nothing listens there
        yield Servers(loopback, ports)
    finally:
        supervisor.stop()
        silent.close()


# --------------------------------------------------------------------------- jump host

SSH_USER = "readiness-nettest"  # the same key-only system user as tests/checks


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        created = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0:
            pwd.getpwnam(name)  # another test run created it meanwhile; else KeyError
    # '*' rather than useradd's locked '!': sshd (without PAM) refuses locked accounts.
    run(["usermod", "-p", "*", name])


@pytest.fixture(scope="session")
def jump_host(loopback: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHVantage]:
    """The project's SSH vantage point through a real sshd on the claimed address."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd_bin).exists():
        pytest.fail("sshd (Debian package openssh-server) is not installed: the SSH tests need it")
    base = tmp_path_factory.mktemp("jump")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    _ensure_user(SSH_USER)
    for name in ("host_key", "client_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(base / name)])
    # sshd reads authorized_keys as the user: it must sit outside pytest's 0700 folders.
    keys_dir = Path(tempfile.mkdtemp(prefix="readiness-tls-sshd-"))
    os.chmod(keys_dir, 0o755)  # noqa: S103 - a public key only
    authorized = keys_dir / "authorized_keys"
    authorized.write_text((base / "client_key.pub").read_text())
    os.chmod(authorized, 0o644)
    port = free_port(loopback)
    conf = base / "sshd_config"
    conf.write_text(f"""
Port {port}
ListenAddress {loopback}
HostKey {base}/host_key
PidFile {base}/sshd.pid
AuthorizedKeysFile {authorized}
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers {SSH_USER}
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
UsePAM no
""")
    run([sshd_bin, "-t", "-f", str(conf)])
    key_type, key = (base / "host_key.pub").read_text().split()[:2]
    (base / "known_hosts").write_text(f"[{loopback}]:{port} {key_type} {key}\n")
    inventory = base / "inventory"
    inventory.mkdir()
    (inventory / "inventory.yaml").write_text(f"""
programme: {{name: TLS tests, go_live: 2027-01-04}}
organisations: {{north: {{name: North}}}}
vantage_points:
  jump:
    kind: ssh
    host: {loopback}
    port: {port}
    user: {SSH_USER}
    key: "file:{base}/client_key"
    known_hosts: "{base}/known_hosts"
""")
    now = dt.datetime.now(dt.UTC)
    ctx = RunContext(
        load(inventory, []),
        go_live=now,
        clock=lambda: now,
        secrets_dir=inventory,
        state_dir=base / "state",
    )
    supervisor = Supervisor(base / "sshd")
    supervisor.start(
        "sshd",
        [sshd_bin, "-D", "-e", "-f", str(conf)],
        ready=tcp_ready(loopback, port),
        ready_timeout=15,
    )
    try:
        vantage = ctx.vantage("jump")
        assert isinstance(vantage, SSHVantage)
        yield vantage
    finally:
        ctx.close()
        supervisor.stop()
        shutil.rmtree(keys_dir, ignore_errors=True)

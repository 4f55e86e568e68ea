"""Real servers for the DNS and network family tests (network helper's fixtures).

* ``bind``: BIND ``named`` on a loopback address and a free port, authoritative
  only (recursion off) for ``good.test`` and ``alias.test``, with ``broken.test``
  configured from a zone file that does not load (SERVFAIL), and a query log
  (``BindServer.queries()``) to count what was asked.
* ``tcp_targets``: a listening socket, a port that refuses, and a listener that
  never accepts (its backlog is full, so new SYNs go unanswered: a host that does
  not answer, without any address outside loopback); all three held for the session
  (ports from the kernel), so no other process can take them meanwhile.
* ``sshd``: OpenSSH on loopback with its own config and host key, a key-only user.

BIND and sshd listen on addresses of a slot claimed for the session
(``checks_slot``, readiness_lab.claim), so two test runs, or a lab, never meet on
them; their ports, and the dead resolver's, are free ports of those addresses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor, run, tcp_ready
from readiness_lab.slot import Slot
from readiness_lab.ssh import ensure_user

if TYPE_CHECKING:
    from readiness.family import CheckFamily, RunContext
    from readiness.inventory import Inventory
    from readiness.results import Result


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


ZONE_HEADER = """$TTL 300
@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 300
@ IN NS ns1.{zone}.
ns1 IN A 127.0.0.1
"""

GOOD_ZONE = (
    ZONE_HEADER.format(zone="good.test")
    + """
www IN A 127.0.0.10
www IN A 127.0.0.11
dual IN A 127.0.0.12
dual IN AAAA ::1
files IN A 127.0.0.1
alias IN CNAME www
outside IN CNAME target.alias.test.
dangling IN CNAME nothere.good.test.
textonly IN TXT "no address here"
"""
)

ALIAS_ZONE = (
    ZONE_HEADER.format(zone="alias.test")
    + """
target IN A 127.0.0.20
"""
)

BROKEN_ZONE = "$TTL 300\n@ IN SOA this is not a valid zone file\n"


@dataclass
class BindServer:
    address: str
    port: int
    directory: Path
    log: Path
    supervisor: Supervisor

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"

    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query logged so far."""
        pattern = re.compile(r"query: (\S+) IN (\S+) ")
        with contextlib.suppress(FileNotFoundError):
            text = self.log.read_text(errors="replace")
            return [(m.group(1).lower(), m.group(2)) for m in pattern.finditer(text)]
        return []

    def dead_resolver(self) -> str:
        """A port of this server's address where nothing listens (ICMP port unreachable):
        the address is the session's own, so nothing else starts listening there."""
        return f"{self.address}:{free_port(self.address)}"

    def wait_logged(self, count: int, timeout: float = 3.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.queries()
            if len(seen) >= count:
                return seen
            time.sleep(0.05)
        return self.queries()


@pytest.fixture(scope="session")
def checks_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slot]:
    with claimed(tmp_path_factory.mktemp("checks-slot")) as slot:
        yield slot


@pytest.fixture(scope="session")
def bind(tmp_path_factory: pytest.TempPathFactory, checks_slot: Slot) -> Iterator[BindServer]:
    if shutil.which("named") is None:
        pytest.fail("named (Debian package bind9) is not installed: the DNS tests need it")
    base = tmp_path_factory.mktemp("bind")
    address = checks_slot.dns
    # named listens only on addresses of an interface.
    run(["ip", "addr", "replace", f"{address}/32", "dev", "lo"])
    try:
        yield from _bind(base, address)
    finally:
        run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


def _bind(base: Path, address: str) -> Iterator[BindServer]:
    port = free_port(address)
    (base / "good.test.zone").write_text(GOOD_ZONE)
    (base / "alias.test.zone").write_text(ALIAS_ZONE)
    (base / "broken.test.zone").write_text(BROKEN_ZONE)
    log = base / "query.log"
    conf = base / "named.conf"
    conf.write_text(f"""
options {{
    directory "{base}";
    pid-file "{base}/named.pid";
    session-keyfile "{base}/session.key";
    listen-on port {port} {{ {address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    querylog yes;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
logging {{
    channel q {{ file "{log}"; print-time yes; }};
    category queries {{ q; }};
    channel main {{ file "{base}/named.log"; severity info; }};
    category default {{ main; }};
}};
zone "good.test" {{ type primary; file "{base}/good.test.zone"; }};
zone "alias.test" {{ type primary; file "{base}/alias.test.zone"; }};
zone "broken.test" {{ type primary; file "{base}/broken.test.zone"; }};
""")
    run(["named-checkconf", str(conf)])
    supervisor = Supervisor(base / "state")
    supervisor.start(
        "named",
        ["named", "-f", "-4", "-u", "root", "-c", str(conf), "-n", "1"],
        ready=tcp_ready(address, port),
        ready_timeout=20,
    )
    server = BindServer(address, port, base, log, supervisor)
    try:
        yield server
    finally:
        supervisor.stop()


def _backlog_full_listener(host: str) -> tuple[socket.socket, list[socket.socket], int]:
    """A listening socket that never accepts, its queue filled so new SYNs are dropped."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    for _ in range(64):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.settimeout(0.3)
        try:
            client.connect((host, port))
        except TimeoutError:
            client.close()
            return listener, fillers, port
        fillers.append(client)
    raise RuntimeError("could not fill the listen backlog")


@dataclass
class TcpTargets:
    host: str
    open_port: int
    closed_port: int
    silent_port: int
    _sockets: list[socket.socket] = field(default_factory=list)


@pytest.fixture(scope="session")
def tcp_targets() -> Iterator[TcpTargets]:
    host = "127.0.0.1"
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind((host, 0))
    listening.listen(128)
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind((host, 0))  # bound, never listening: refused, and the port stays ours
    silent, fillers, silent_port = _backlog_full_listener(host)
    targets = TcpTargets(
        host,
        int(listening.getsockname()[1]),
        int(closed.getsockname()[1]),
        silent_port,
        [listening, closed, silent, *fillers],
    )
    try:
        yield targets
    finally:
        for sock in targets._sockets:
            sock.close()


# --------------------------------------------------------------------------- sshd

SSH_USER = "readiness-nettest"


@dataclass
class SshServer:
    host: str
    port: int
    user: str
    client_key: Path  # authorised private key (OpenSSH PEM)
    other_key: Path  # a key the server does not accept
    known_hosts: Path  # the server's real host key
    wrong_known_hosts: Path  # another key for the same host
    directory: Path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, checks_slot: Slot) -> Iterator[SshServer]:
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd_bin).exists():
        pytest.fail("sshd (Debian package openssh-server) is not installed: the SSH tests need it")
    base = tmp_path_factory.mktemp("sshd")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    ensure_user(SSH_USER)  # key-only, no shell
    for name in ("host_key", "client_key", "other_key", "wrong_host_key"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(base / name)])
    # sshd reads authorized_keys as the user: it must sit outside pytest's 0700 folders.
    keys_dir = Path(tempfile.mkdtemp(prefix="readiness-sshd-keys-"))
    os.chmod(keys_dir, 0o755)  # noqa: S103 - public keys only
    authorized = keys_dir / "authorized_keys"
    authorized.write_text((base / "client_key.pub").read_text())
    os.chmod(authorized, 0o644)
    host = checks_slot.host(0, 22)
    port = free_port(host)
    conf = base / "sshd_config"
    conf.write_text(f"""
Port {port}
ListenAddress {host}
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
LogLevel VERBOSE
""")
    run([sshd_bin, "-t", "-f", str(conf)])
    hostkey = (base / "host_key.pub").read_text().split()
    wrongkey = (base / "wrong_host_key.pub").read_text().split()
    known = base / "known_hosts"
    known.write_text(f"[{host}]:{port} {hostkey[0]} {hostkey[1]}\n")
    wrong = base / "wrong_known_hosts"
    wrong.write_text(f"[{host}]:{port} {wrongkey[0]} {wrongkey[1]}\n")
    supervisor = Supervisor(base / "state")
    supervisor.start(
        "sshd",
        [sshd_bin, "-D", "-e", "-f", str(conf)],
        ready=tcp_ready(host, port),
        ready_timeout=15,
    )
    try:
        yield SshServer(
            host, port, SSH_USER, base / "client_key", base / "other_key", known, wrong, base
        )
    finally:
        supervisor.stop()
        shutil.rmtree(keys_dir, ignore_errors=True)


GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- inventories


class Helpers:
    """Build inventories and contexts, and run a family the way the engine does."""

    @staticmethod
    def load_inventory(folder: Path, text: str) -> Inventory:
        """Write ``text`` as the only file of an inventory folder and load it with the
        dns and network families."""
        from readiness.inventory import load
        from readiness_checks.dns import family as dns_family
        from readiness_checks.network import family as network_family

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "inventory.yaml").write_text(text)
        return load(folder, [dns_family, network_family])

    @staticmethod
    def run_context(inventory: Inventory, state: Path) -> RunContext:
        from readiness.family import RunContext

        return RunContext(
            inventory,
            go_live=GO_LIVE,
            clock=lambda: GO_LIVE,
            secrets_dir=inventory.root,
            state_dir=state,
        )

    @staticmethod
    def plan_and_run(
        fam: CheckFamily[Any],
        inventory: Inventory,
        ctx: RunContext,
        others: Sequence[CheckFamily[Any]] = (),
    ) -> list[Result]:
        """Plan and run ``fam`` alone through the engine (``others``: installed beside it,
        e.g. for the hosts they name)."""
        from readiness.engine import make_plan, run_plan
        from readiness.inventory import Selection

        plan = make_plan(
            inventory, [fam, *others], Selection(families=frozenset({fam.name})), GO_LIVE
        )
        results = run_plan(plan, ctx)
        assert not plan.failed
        assert {r.probe for r in results} == {p.id for p in plan.probes}
        return results


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers

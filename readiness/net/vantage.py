"""Vantage points: where a probe runs from.

``local`` is the sweeping machine itself. An ``ssh`` vantage point is a jump host at
a site: TCP connections are opened *from the jump host* as SSH ``direct-tcpip``
channels (what ``ssh -W`` does), so a probe sees the network as that site sees it.
Every vantage point gives a :class:`~readiness.net.streams.Stream` (TLS runs over it
with :mod:`readiness.net.tls`) and says whether it can send UDP (``supports_udp``):
SSH forwards TCP only, so a UDP probe from a jump host is refused, never faked.

* One SSH connection (one paramiko Transport) per vantage point per sweep, opened
  lazily under a lock and reused by every probe; reopened if it drops.
* Host keys are verified against the inventory's ``known_hosts`` file (paramiko
  ``RejectPolicy``: an unknown host is refused, a changed key is refused) unless the
  inventory opts out with ``insecure_host_key: true``.
* The key or password comes from a secret reference, resolved late and never shown.

Errors of ``connect`` are ordinary socket errors so families classify them the same
way whatever the vantage point: ``ConnectionRefusedError`` (the port is closed),
``TimeoutError`` (no answer), other ``OSError`` (unreachable). A vantage point that
cannot itself be reached raises :class:`VantageError` (an ``OSError`` too, but
callers should report it as "we could not find out", never as the target's fault).
"""

from __future__ import annotations

import errno
import io
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from readiness.inventory.models import VantagePoint
from readiness.net.streams import Stream
from readiness.secrets import Secret

if TYPE_CHECKING:
    import paramiko

__all__ = ["LocalVantage", "SSHVantage", "Vantage", "VantageError", "open_vantage"]

SSH_CONNECT_TIMEOUT = 10.0  # seconds, at least, for connecting and logging in to a jump host


class VantageError(OSError):
    """The vantage point itself is unusable (unknown/changed host key, login refused,
    jump host unreachable). The message names the vantage point, never a secret."""


class Vantage(Protocol):
    name: str
    kind: str
    supports_udp: bool

    def connect(self, host: str, port: int, timeout: float) -> Stream:
        """A connected stream from where the vantage point stands."""
        ...

    def udp(self, host: str, port: int, timeout: float) -> socket.socket:
        """A connected UDP socket; raises VantageError where UDP cannot be sent."""
        ...

    def login(self, timeout: float) -> str:
        """Make sure the vantage point is usable now (an SSH jump host: logged in, host
        key verified); what it is, in words. Raises VantageError."""
        ...

    def close(self) -> None: ...


class LocalVantage:
    """Connections straight from the sweeping machine."""

    kind = "local"
    supports_udp = True

    def __init__(self, name: str = "local") -> None:
        self.name = name

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    def udp(self, host: str, port: int, timeout: float) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.settimeout(timeout)
            # Connected: ICMP port-unreachable comes back as ECONNREFUSED.
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def login(self, timeout: float) -> str:
        return "this machine"

    def close(self) -> None:
        return None


def _load_key(text: str, where: str) -> paramiko.PKey:
    import paramiko

    errors: list[str] = []
    key_classes: list[type[paramiko.PKey]] = [
        paramiko.Ed25519Key,
        paramiko.ECDSAKey,
        paramiko.RSAKey,
    ]
    for cls in key_classes:
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{cls.__name__}: {type(exc).__name__}")
    raise VantageError(
        f"{where}: the private key is not a readable unencrypted "
        f"Ed25519, ECDSA or RSA key ({'; '.join(errors)})"
    )


def _transport_factory() -> Any:
    """A paramiko Transport that keeps the server's reason for a failed channel open
    (OpenSSH says "Connection refused" / "No route to host" / "Connection timed out";
    paramiko itself only keeps the generic "Connect failed")."""
    import paramiko
    from paramiko.common import DEBUG
    from paramiko.ssh_exception import ChannelException

    class _Transport(paramiko.Transport):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._opening = threading.local()
            # paramiko keeps one saved_exception per transport: two channels failing at
            # once could take each other's reason, or none ("Unable to open channel"),
            # so each failure is also kept by its channel id.
            self._failures: dict[int, ChannelException] = {}

        def _next_channel(self) -> int:
            chanid: int = super()._next_channel()  # type: ignore[misc]
            self._opening.chanid = chanid
            return chanid

        def open_channel(self, *args: Any, **kwargs: Any) -> paramiko.Channel:
            try:
                return super().open_channel(*args, **kwargs)
            except paramiko.SSHException:
                # Timed out (or failed): forget the channel, so that a late answer from the
                # jump host is ignored instead of being blamed on a later channel.
                chanid = getattr(self._opening, "chanid", None)
                with self.lock:
                    own = self._failures.pop(chanid, None) if chanid is not None else None
                    if chanid is not None and chanid in self.channel_events:
                        del self.channel_events[chanid]
                        self._channels.delete(chanid)  # type: ignore[attr-defined]
                if own is not None:
                    raise own from None
                raise

        def _parse_channel_open_failure(self, m: paramiko.Message) -> None:
            chanid = m.get_int()
            reason = m.get_int()
            reason_str = m.get_text()
            m.get_text()  # language
            # DEBUG, not paramiko's ERROR: with no logging configured Python would print it
            # on stderr, amid the summary; the result that asked carries the reason.
            self._log(DEBUG, f"Secsh channel {chanid} open FAILED: {reason_str}")  # type: ignore[attr-defined]
            with self.lock:
                # Only for a channel someone still waits for: a late failure of a channel
                # we gave up on (timeout) must not be blamed on the next one.
                if chanid in self.channel_events:
                    failure = ChannelException(reason, reason_str or "open failed")
                    self._failures[chanid] = self.saved_exception = failure
                    self._channels.delete(chanid)  # type: ignore[attr-defined]
                    self.channel_events[chanid].set()
                    del self.channel_events[chanid]

    return _Transport


def _close(client: paramiko.SSHClient, sock: socket.socket) -> None:
    client.close()
    sock.close()


class SSHVantage:
    """TCP connections opened by an SSH jump host (direct-tcpip channels)."""

    kind = "ssh"
    supports_udp = False

    def __init__(
        self,
        name: str,
        point: VantagePoint,
        *,
        known_hosts: str | None,
        secret: Callable[[str], Secret],
        resolve: Callable[[str], list[str]],
    ) -> None:
        self.name = name
        self.point = point
        self.known_hosts = known_hosts
        self._secret = secret
        self._resolve = resolve
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self._broken: VantageError | None = None

    # -- the one SSH connection -------------------------------------------------
    @property
    def label(self) -> str:
        p = self.point
        return f"vantage point '{self.name}' ({p.user}@{p.host}:{p.port})"

    def _open(self, timeout: float) -> paramiko.SSHClient:
        import paramiko

        p = self.point
        assert p.host is not None
        client = paramiko.SSHClient()
        if p.insecure_host_key:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
        else:
            known = self.known_hosts
            if known is None:
                raise VantageError(
                    f"{self.label}: no known_hosts file: host keys must be "
                    "verified (set known_hosts, or insecure_host_key: true)"
                )
            try:
                client.load_host_keys(known)
            except OSError as exc:
                raise VantageError(
                    f"{self.label}: cannot read known_hosts {known}: {exc.strerror} "
                    f"(`readiness vantage trust INVENTORY --vantage {self.name}` writes it)"
                ) from None
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        pkey = None
        password = None
        try:
            if p.key:
                pkey = _load_key(self._secret(p.key).reveal(), self.label)
            if p.password:
                password = self._secret(p.password).reveal()
        except VantageError:
            raise
        except Exception as exc:  # SecretError: its message never holds the secret
            raise VantageError(f"{self.label}: {exc}") from None
        try:
            addresses = self._resolve(p.host)
        except Exception as exc:
            raise VantageError(f"{self.label}: cannot resolve the jump host: {exc}") from None
        sock: socket.socket | None = None
        last: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, p.port), timeout=timeout)
                break
            except OSError as exc:
                last = exc
        if sock is None:
            raise VantageError(f"{self.label}: cannot connect to the jump host: {last}")
        try:
            client.connect(
                p.host,
                port=p.port,
                username=p.user,
                pkey=pkey,
                password=password,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
                transport_factory=_transport_factory(),
            )
        except paramiko.BadHostKeyException as exc:
            _close(client, sock)
            raise VantageError(
                f"{self.label}: the host key does not match known_hosts (got "
                f"{exc.key.get_name()} {exc.key.fingerprint}): refusing to connect; if the "
                "key was changed on purpose, update the known_hosts file"
            ) from None
        except paramiko.AuthenticationException:
            _close(client, sock)
            raise VantageError(
                f"{self.label}: the jump host refused our login (key or password not accepted)"
            ) from None
        except paramiko.SSHException as exc:
            _close(client, sock)
            text = str(exc)
            if "not found in known_hosts" in text:
                raise VantageError(
                    f"{self.label}: the host key is unknown (not in {self.known_hosts}): "
                    "refusing to connect; compare its fingerprint and trust it with "
                    f"`readiness vantage trust INVENTORY --vantage {self.name}`"
                ) from None
            raise VantageError(f"{self.label}: SSH failed: {text}") from None
        except OSError as exc:
            _close(client, sock)
            raise VantageError(f"{self.label}: SSH connection failed: {exc}") from None
        return client

    def _transport(self, timeout: float) -> paramiko.Transport:
        with self._lock:
            if self._broken is not None:
                # Failed once this sweep: do not hammer the jump host (a refused login
                # repeated by every probe looks like an attack and may lock the account).
                raise self._broken
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return transport
                self._client.close()
                self._client = None
            try:
                # The SSH handshake gets its own floor: a probe with a short timeout must
                # not make the vantage point look broken for the whole sweep.
                self._client = self._open(max(timeout, SSH_CONNECT_TIMEOUT))
            except VantageError as exc:
                self._broken = exc
                raise
            transport = self._client.get_transport()
            assert transport is not None
            return transport

    # -- probes -----------------------------------------------------------------
    def login(self, timeout: float) -> str:
        transport = self._transport(timeout)
        key = transport.get_remote_server_key()
        return (
            f"{self.label}: logged in ({transport.remote_version}), host key "
            f"{key.get_name()} {key.fingerprint}"
            + (" (not verified: insecure_host_key)" if self.point.insecure_host_key else "")
        )

    def connect(self, host: str, port: int, timeout: float) -> paramiko.Channel:
        import paramiko

        transport = self._transport(timeout)
        try:
            channel = transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
            )
        except paramiko.ChannelException as exc:
            text = (exc.text or "").lower()
            detail = f"{host}:{port} from {self.name}: {exc.text or 'open failed'}"
            if "refused" in text:
                raise ConnectionRefusedError(detail) from None
            if "timed out" in text or "timeout" in text:
                raise TimeoutError(detail) from None
            if exc.code == 1:  # administratively prohibited: the jump host refused
                raise VantageError(
                    f"{self.label}: forwarding refused by the jump host ({exc.text})"
                ) from None
            if any(
                w in text for w in ("name or service", "resolve", "name resolution", "nodename")
            ):
                raise socket.gaierror(socket.EAI_NONAME, detail) from None
            if "no route" in text or "unreachable" in text:
                raise OSError(errno.EHOSTUNREACH, detail) from None
            raise OSError(detail) from None
        except paramiko.SSHException as exc:
            if "timeout" in str(exc).lower():
                raise TimeoutError(
                    f"{host}:{port} from {self.name}: no answer within {timeout:.2g}s"
                ) from None
            raise VantageError(f"{self.label}: {exc}") from None
        except EOFError:
            raise VantageError(f"{self.label}: the SSH connection closed") from None
        channel.settimeout(timeout)
        return channel

    def udp(self, host: str, port: int, timeout: float) -> socket.socket:
        raise VantageError(
            f"{self.label}: an SSH jump host forwards TCP only, so UDP to "
            f"{host}:{port} cannot be sent from it"
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def open_vantage(
    name: str,
    point: VantagePoint | None,
    *,
    known_hosts: str | None,
    secret: Callable[[str], Secret],
    resolve: Callable[[str], list[str]],
) -> Vantage:
    """The vantage point ``name``: ``local`` (``point`` None) or an inventory's point."""
    if point is None:
        if name != "local":
            raise VantageError(f"no vantage point named '{name}' in the inventory")
        return LocalVantage()
    if point.kind == "local":
        return LocalVantage(name)
    return SSHVantage(name, point, known_hosts=known_hosts, secret=secret, resolve=resolve)

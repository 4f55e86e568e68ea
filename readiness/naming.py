"""How the sweep finds servers: DNS lookups through explicitly named resolvers.

Two layers:

* :func:`lookup` asks ONE resolver for the A and AAAA records of one name (following
  CNAMEs, also across zones of an authoritative-only server) and returns a
  :class:`Lookup` that says what happened: ``ok`` with addresses, or ``nxdomain`` /
  ``nodata`` (the resolver answered: the record is missing) or ``servfail`` /
  ``refused`` / ``timeout`` / ``unreachable`` / ``bad-response`` (we could not find
  out). It never raises for DNS or network trouble. Queries go over UDP (TCP when
  truncated) from the sweeping machine, or over TCP through a vantage point's
  ``connect`` (e.g. an SSH direct-tcpip channel) when ``via`` is given.
* :func:`resolve` turns a host name into addresses for a connection: IP literals as
  they are; with resolvers, the first one that gives an answer; with an empty list
  the operating system's resolver (``socket.getaddrinfo``), which an inventory
  chooses by leaving ``programme.resolvers`` empty. It raises :class:`ResolveError`.

dnspython is imported lazily (``readiness --help`` must start fast) and always with
explicit servers: never the machine's ``/etc/resolv.conf``.

Every query sent is counted in :data:`QUERIES` (tests and the benchmark read it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import dns.message

__all__ = [
    "ERROR_OUTCOMES",
    "FAIL_OUTCOMES",
    "QUERIES",
    "Lookup",
    "QueryCounter",
    "ResolveError",
    "format_resolver",
    "is_ip",
    "lookup",
    "parse_resolver",
    "resolve",
    "system_lookup",
]

FAIL_OUTCOMES = frozenset({"nxdomain", "nodata"})  # the resolver answered: record missing
ERROR_OUTCOMES = frozenset(
    {"servfail", "refused", "timeout", "unreachable", "bad-response", "rcode", "loop", "vantage"}
)
MAX_CNAME_HOPS = 8


class SocketLike(Protocol):
    def sendall(self, data: bytes, /) -> Any: ...
    def recv(self, size: int, /) -> bytes: ...
    def settimeout(self, value: float | None, /) -> Any: ...
    def close(self) -> Any: ...


class Connector(Protocol):
    """What a vantage point offers DNS: a TCP connection from where it stands."""

    def connect(self, host: str, port: int, timeout: float) -> SocketLike: ...


class QueryCounter:
    """Counts DNS queries sent, per (name, type, server, vantage). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_key: dict[tuple[str, str, str, str], int] = {}

    def add(self, name: str, rdtype: str, server: str, vantage: str) -> None:
        key = (name.lower().rstrip("."), rdtype, server, vantage)
        with self._lock:
            self.by_key[key] = self.by_key.get(key, 0) + 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_key.values())

    def reset(self) -> None:
        with self._lock:
            self.by_key.clear()


QUERIES = QueryCounter()


class ResolveError(Exception):
    """A host name could not be turned into addresses; ``outcome`` says why."""

    def __init__(self, host: str, outcome: str, detail: str) -> None:
        super().__init__(f"cannot resolve {host}: {detail}")
        self.host = host
        self.outcome = outcome
        self.detail = detail

    @property
    def is_failure(self) -> bool:
        """True when a resolver answered that the record does not exist."""
        return self.outcome in FAIL_OUTCOMES


@dataclass(frozen=True)
class Lookup:
    """The outcome of asking one resolver about one name (A and AAAA)."""

    name: str
    resolver: str  # "host:port" as asked
    vantage: str
    outcome: str  # ok | nxdomain | nodata | servfail | refused | timeout | unreachable | ...
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()  # the CNAME chain followed, in order
    detail: str = ""
    queries: int = 0
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def is_failure(self) -> bool:
        return self.outcome in FAIL_OUTCOMES

    def error(self) -> ResolveError:
        return ResolveError(self.name, self.outcome, self.describe())

    def describe(self) -> str:
        text = {
            "ok": "resolves to " + ", ".join(self.addresses),
            "nxdomain": "NXDOMAIN (the name does not exist)",
            "nodata": "no A/AAAA record (NOERROR, empty answer)",
            "servfail": "SERVFAIL (the resolver could not answer)",
            "refused": "REFUSED (the resolver will not answer for this name)",
            "timeout": "no answer from the resolver",
            "unreachable": "the resolver cannot be reached",
            "loop": "CNAME chain too long or looping",
            "vantage": "the vantage point could not be used",
        }.get(self.outcome, self.outcome)
        if self.cnames:
            text += " (via CNAME " + " -> ".join(self.cnames) + ")"
        return f"{text}: {self.detail}" if self.detail and self.outcome != "ok" else text


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_resolver(spec: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``v6`` or ``[v6]:port`` -> (host, port)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, 53


def format_resolver(spec: str) -> str:
    """The canonical ``host:port`` form used in targets, cache keys and results."""
    host, port = parse_resolver(spec)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolver_address(host: str) -> str:
    """A resolver named by host name is found with the OS resolver (once)."""
    if is_ip(host):
        return host
    return str(socket.getaddrinfo(host, 53, type=socket.SOCK_DGRAM)[0][4][0])


def _recv_exact(sock: SocketLike, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the connection closed before the DNS answer was complete")
        data += chunk
    return data


def _query_tcp(wire: bytes, sock: SocketLike) -> bytes:
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    (length,) = struct.unpack("!H", _recv_exact(sock, 2))
    return _recv_exact(sock, length)


class _TcpSession:
    """One DNS-over-TCP connection through a vantage point, reused by the queries of
    one lookup (A, AAAA, CNAME targets) and reopened once if the server closed it."""

    def __init__(self, via: Connector) -> None:
        self.via = via
        self.sock: SocketLike | None = None

    def exchange(self, wire: bytes, server: str, port: int, timeout: float) -> bytes:
        while True:
            fresh = self.sock is None
            if self.sock is None:
                self.sock = self.via.connect(server, port, timeout)
            self.sock.settimeout(timeout)
            try:
                return _query_tcp(wire, self.sock)
            except (EOFError, BrokenPipeError, ConnectionResetError):
                self.close()
                if fresh:
                    raise

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(Exception):
                self.sock.close()
            self.sock = None


def _exchange(
    query: dns.message.Message, server: str, port: int, timeout: float,
    session: _TcpSession | None,
) -> dns.message.Message:
    """Send one query; raise TimeoutError / ConnectionRefusedError / OSError / DNSException."""
    import dns.flags
    import dns.message
    import dns.query

    wire = query.to_wire()
    if session is not None:
        answer = dns.message.from_wire(session.exchange(wire, server, port, timeout))
    else:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        deadline = time.monotonic() + timeout
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            # A connected UDP socket reports ICMP port-unreachable as ECONNREFUSED,
            # so a dead resolver is told apart from a silent one.
            udp.connect((server, port))
            udp.send(wire)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer")
                udp.settimeout(left)
                try:
                    data = udp.recv(65535)
                except TimeoutError:
                    raise TimeoutError("no answer") from None
                try:
                    answer = dns.message.from_wire(data)
                except Exception:  # noqa: S112 - a stray datagram; keep waiting
                    continue
                if query.is_response(answer):
                    break
        if answer.flags & dns.flags.TC:
            answer = dns.query.tcp(query, server, timeout=max(deadline - time.monotonic(), 0.1),
                                   port=port)
    if not query.is_response(answer):
        raise ValueError("the answer does not match the question")
    return answer


def _ask(
    name: str, rdtype: str, server: str, port: int, timeout: float,
    session: _TcpSession | None, vantage: str,
) -> tuple[str, dns.message.Message | None, str]:
    """(outcome, answer, detail) for one question."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.rcode

    from readiness.vantage import VantageError

    query = dns.message.make_query(name, rdtype)
    query.flags |= dns.flags.RD
    QUERIES.add(name, rdtype, f"{server}:{port}", vantage)
    try:
        answer = _exchange(query, server, port, timeout, session)
    except (TimeoutError, dns.exception.Timeout):
        return "timeout", None, f"no answer within {timeout:.2g}s"
    except VantageError as exc:
        return "vantage", None, str(exc)
    except ConnectionRefusedError:
        return "unreachable", None, "connection refused (nothing listens on the resolver port)"
    except (OSError, EOFError) as exc:
        return "unreachable", None, str(exc) or type(exc).__name__
    except (dns.exception.DNSException, ValueError) as exc:
        return "bad-response", None, f"malformed answer: {exc}"
    rcode = answer.rcode()
    if rcode == dns.rcode.NOERROR:
        return "ok", answer, ""
    if rcode == dns.rcode.NXDOMAIN:
        return "nxdomain", answer, ""
    if rcode == dns.rcode.SERVFAIL:
        return "servfail", answer, ""
    if rcode == dns.rcode.REFUSED:
        return "refused", answer, ""
    return "rcode", answer, f"rcode {dns.rcode.to_text(rcode)}"


def _records(answer: dns.message.Message, name: str, rdtype: str) -> tuple[list[str], list[str]]:
    """Addresses of ``rdtype`` for ``name`` in ``answer``, following CNAMEs within it.

    Returns (addresses, cname chain); if the chain leaves the answer, the last
    element of the chain is the name still to be asked.
    """
    import dns.name
    import dns.rdatatype

    current = dns.name.from_text(name)
    chain: list[str] = []
    wanted = dns.rdatatype.from_text(rdtype)
    for _ in range(MAX_CNAME_HOPS + 1):
        found = [rrset for rrset in answer.answer if rrset.name == current]
        addresses = [r.to_text() for rrset in found if rrset.rdtype == wanted for r in rrset]
        if addresses:
            return addresses, chain
        cname = next((rrset for rrset in found if rrset.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            return [], chain
        current = cname[0].target
        chain.append(current.to_text(omit_final_dot=True))
    return [], chain


def _negative(answer: dns.message.Message) -> bool:
    """True when the answer carries an SOA in its authority section: the server says
    the (end of the) chain has no such record, so there is nothing left to chase."""
    import dns.rdatatype

    return any(rrset.rdtype == dns.rdatatype.SOA for rrset in answer.authority)


def lookup(
    name: str,
    resolver: str,
    timeout: float = 5.0,
    *,
    via: Connector | None = None,
    vantage: str = "local",
) -> Lookup:
    """Ask ``resolver`` ("host" or "host:port") for the A and AAAA records of ``name``."""
    started = time.perf_counter()
    host, port = parse_resolver(resolver)
    label = format_resolver(resolver)
    try:
        server = _resolver_address(host)
    except OSError as exc:
        return Lookup(name, label, vantage, "unreachable",
                      detail=f"cannot find the resolver {host}: {exc}")
    session = _TcpSession(via) if via is not None else None
    try:
        return _lookup(name, label, vantage, server, port, timeout, session, started)
    finally:
        if session is not None:
            session.close()


def _lookup(name: str, label: str, vantage: str, server: str, port: int, timeout: float,
            session: _TcpSession | None, started: float) -> Lookup:
    deadline = time.monotonic() + timeout
    addresses: list[str] = []
    chain: list[str] = []
    queries = 0
    outcomes: list[str] = []
    for rdtype in ("A", "AAAA"):
        qname = name
        for _hop in range(MAX_CNAME_HOPS):
            left = max(deadline - time.monotonic(), 0.2)
            outcome, answer, detail = _ask(qname, rdtype, server, port, left, session,
                                           vantage)
            queries += 1
            if outcome != "ok" or answer is None:
                if outcome == "nxdomain" and answer is not None:
                    # NXDOMAIN for the end of a CNAME chain still names the chain.
                    _, more = _records(answer, qname, rdtype)
                    chain.extend(c for c in more if c not in chain)
                if outcome in ERROR_OUTCOMES:
                    elapsed = (time.perf_counter() - started) * 1000
                    if addresses:  # IPv4 answered; a resolver that drops AAAA is common
                        return Lookup(name, label, vantage, "ok", tuple(addresses),
                                      tuple(chain), detail=f"{rdtype}: {outcome} ({detail})",
                                      queries=queries, elapsed_ms=elapsed)
                    return Lookup(name, label, vantage, outcome, cnames=tuple(chain),
                                  detail=detail, queries=queries, elapsed_ms=elapsed)
                outcomes.append(outcome)
                break
            found, more = _records(answer, qname, rdtype)
            chain.extend(c for c in more if c not in chain)
            if found:
                addresses.extend(a for a in sorted(found) if a not in addresses)
                outcomes.append("ok")
                break
            if more and not _negative(answer):
                qname = more[-1]  # the chain leaves what this server knows: ask about its end
                continue
            outcomes.append("nodata")
            break
        else:
            return Lookup(name, label, vantage, "loop", cnames=tuple(chain), queries=queries,
                          elapsed_ms=(time.perf_counter() - started) * 1000)
    elapsed = (time.perf_counter() - started) * 1000
    if addresses:
        return Lookup(name, label, vantage, "ok", tuple(addresses), tuple(chain),
                      queries=queries, elapsed_ms=elapsed)
    outcome = "nxdomain" if "nxdomain" in outcomes else "nodata"
    return Lookup(name, label, vantage, outcome, cnames=tuple(chain), queries=queries,
                  elapsed_ms=elapsed)


def system_lookup(name: str, vantage: str = "local") -> Lookup:
    """Ask the operating system's resolver (chosen by an empty resolver list)."""
    started = time.perf_counter()
    QUERIES.add(name, "ANY", "system", vantage)
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        outcome = {
            socket.EAI_NONAME: "nxdomain",
            getattr(socket, "EAI_NODATA", -5): "nodata",
            socket.EAI_AGAIN: "timeout",
        }.get(exc.errno, "servfail")
        return Lookup(name, "system", vantage, outcome, detail=str(exc.strerror), queries=1,
                      elapsed_ms=(time.perf_counter() - started) * 1000)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return Lookup(name, "system", vantage, "ok", tuple(addresses), queries=1,
                  elapsed_ms=(time.perf_counter() - started) * 1000)


def resolve(
    host: str,
    resolvers: Sequence[str],
    timeout: float = 5.0,
    *,
    via: Connector | None = None,
    vantage: str = "local",
    lookup_fn: Callable[[str, str], Lookup] | None = None,
) -> list[str]:
    """Addresses of ``host``: IP literals as they are; else the first resolver that
    answers (a definite NXDOMAIN/NODATA ends the search); ``[]`` resolvers = the OS.

    ``lookup_fn(host, resolver)`` replaces :func:`lookup` (callers pass a cached one).
    """
    host = host.strip()
    if is_ip(host):
        return [host.strip("[]")]
    if not resolvers:
        result = system_lookup(host, vantage)
        if not result.ok:
            raise result.error()
        return list(result.addresses)
    last: Lookup | None = None
    for resolver in resolvers:
        if lookup_fn is not None:
            result = lookup_fn(host, resolver)
        else:
            result = lookup(host, resolver, timeout, via=via, vantage=vantage)
        if result.ok:
            return list(result.addresses)
        last = result
        if result.is_failure:
            break
    assert last is not None
    raise last.error()

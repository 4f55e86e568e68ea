"""DNS as the sweep sees it: any record type, through explicitly named resolvers.

Three layers:

* :func:`query` asks ONE resolver ONE question (a name and a record type: A, AAAA, MX,
  TXT, SRV, NAPTR, CNAME...) with dnspython's own query functions, following CNAMEs (also
  across zones of an authoritative-only server), and returns an :class:`Answer` that
  says what happened: ``ok`` with records, ``nxdomain`` / ``nodata`` (the resolver
  answered: the record is missing) or ``servfail`` / ``refused`` / ``timeout`` /
  ``unreachable`` / ``bad-response`` / ``vantage`` (we could not find out). It never
  raises for DNS or network trouble. Queries go over UDP (TCP when truncated) from the
  sweeping machine, or over TCP through a vantage point's ``connect`` (an SSH
  ``direct-tcpip`` channel) when ``via`` is given.
* :func:`lookup` turns A and AAAA answers into the addresses of a host (:class:`Lookup`),
  and :func:`resolve` picks the first resolver that answers.
* :class:`DnsService` is the sweep's cache (one per sweep, in ``RunContext.dns``): each
  question (canonical name, type, resolver, vantage point) is asked once per sweep,
  whichever family asks it and however the name is spelt (``Host.`` = ``host``).

dnspython is imported lazily (``readiness --help`` must start fast) and always with
explicit servers: never the machine's ``/etc/resolv.conf``. Every query sent is counted
in :data:`QUERIES` (tests and benchmarks read it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from readiness.inventory.models import split_host_port
from readiness.net.streams import Stream

if TYPE_CHECKING:
    import dns.message

__all__ = [
    "ERROR_OUTCOMES",
    "FAIL_OUTCOMES",
    "QUERIES",
    "SYSTEM",
    "Answer",
    "DnsService",
    "Lookup",
    "QueryCounter",
    "Record",
    "ResolveError",
    "canonical",
    "format_resolver",
    "is_ip",
    "lookup",
    "query",
    "resolve",
    "system_lookup",
]

FAIL_OUTCOMES = frozenset({"nxdomain", "nodata"})  # the resolver answered: record missing
ERROR_OUTCOMES = frozenset(
    {"servfail", "refused", "timeout", "unreachable", "bad-response", "rcode", "loop", "vantage"}
)
MAX_CNAME_HOPS = 8
SYSTEM = "system"  # the resolver label of the operating system's resolver
DEFAULT_TIMEOUT = 5.0


class Connector(Protocol):
    """What a vantage point offers DNS: a TCP stream from where it stands."""

    def connect(self, host: str, port: int, timeout: float) -> Stream: ...


class QueryCounter:
    """Counts DNS queries sent, per (name, type, server, vantage). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_key: dict[tuple[str, str, str, str], int] = {}

    def add(self, name: str, rdtype: str, server: str, vantage: str) -> None:
        key = (canonical(name), rdtype, server, vantage)
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


_DESCRIBE = {
    "nxdomain": "NXDOMAIN (the name does not exist)",
    "servfail": "SERVFAIL (the resolver could not answer)",
    "refused": "REFUSED (the resolver will not answer for this name)",
    "timeout": "no answer from the resolver",
    "unreachable": "the resolver cannot be reached",
    "loop": "CNAME chain too long or looping",
    "vantage": "the vantage point could not be used",
}


def _describe(outcome: str, rdtype: str, detail: str, cnames: Sequence[str], found: str) -> str:
    if outcome == "ok":
        text = found
    elif outcome == "nodata":
        text = f"no {rdtype} record (NOERROR, empty answer)"
    else:
        text = _DESCRIBE.get(outcome, outcome)
    if cnames:
        text += " (via CNAME " + " -> ".join(cnames) + ")"
    return f"{text}: {detail}" if detail and outcome != "ok" else text


@dataclass(frozen=True)
class Record:
    """One record of an answer. ``value`` is the record in presentation form, except
    for TXT: the character-strings joined as RFC 7208 reads them (no quotes)."""

    name: str
    rdtype: str
    ttl: int
    value: str


@dataclass(frozen=True)
class Answer:
    """The outcome of asking one resolver one question."""

    name: str
    rdtype: str
    resolver: str  # "host:port" as asked, or "system"
    vantage: str
    outcome: str  # ok | nxdomain | nodata | servfail | refused | timeout | unreachable | ...
    records: tuple[Record, ...] = ()  # of ``rdtype``, at the end of the CNAME chain
    cnames: tuple[str, ...] = ()  # the CNAME chain followed, in order
    detail: str = ""
    queries: int = 0
    elapsed_ms: float = 0.0
    truncated: bool = False  # the UDP answer was truncated and TCP was used

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def is_failure(self) -> bool:
        return self.outcome in FAIL_OUTCOMES

    @property
    def values(self) -> list[str]:
        return [r.value for r in self.records]

    @property
    def ttl(self) -> int | None:
        return min((r.ttl for r in self.records), default=None)

    def describe(self) -> str:
        return _describe(
            self.outcome,
            self.rdtype,
            self.detail,
            self.cnames,
            f"{self.rdtype} " + ", ".join(self.values),
        )


@dataclass(frozen=True)
class Lookup:
    """The addresses of one host from one resolver (A and AAAA)."""

    name: str
    resolver: str
    vantage: str
    outcome: str
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
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
        return _describe(
            self.outcome,
            "A/AAAA",
            self.detail,
            self.cnames,
            "resolves to " + ", ".join(self.addresses),
        )


def canonical(name: str) -> str:
    """The one spelling of a name in cache keys and counts."""
    return name.strip().lower().rstrip(".")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def format_resolver(spec: str) -> str:
    """The canonical ``host:port`` form used in targets, cache keys and results."""
    if spec == SYSTEM:
        return SYSTEM
    host, port = split_host_port(spec)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolver_address(host: str) -> str:
    """A resolver named by host name is found with the OS resolver (once)."""
    if is_ip(host):
        return host
    return str(socket.getaddrinfo(host, 53, type=socket.SOCK_DGRAM)[0][4][0])


# ----------------------------------------------------------------------------- one question


class TcpSession:
    """DNS over one TCP stream through a vantage point, reused by every question asked
    of one resolver from there (RFC 7766 allows many per connection), reopened once
    when the server has closed it. Framing is dnspython's (``dns.query.tcp``)."""

    def __init__(self, via: Connector, server: str, port: int) -> None:
        self.via, self.server, self.port = via, server, port
        self.stream: Stream | None = None
        self.lock = threading.Lock()
        self.opened = 0
        self.closed = False

    def exchange(self, question: dns.message.Message, timeout: float) -> dns.message.Message:
        import dns.query

        with self.lock:
            while True:
                if self.closed:
                    raise ConnectionAbortedError("the sweep is over: DNS session closed")
                fresh = self.stream is None
                if self.stream is None:
                    self.stream = self.via.connect(self.server, self.port, timeout)
                    self.opened += 1
                self.stream.settimeout(timeout)
                try:
                    return dns.query.tcp(
                        question, self.server, timeout=timeout, port=self.port, sock=self.stream
                    )
                except (EOFError, BrokenPipeError, ConnectionResetError):
                    self._drop()
                    if fresh:
                        raise
                except BaseException:
                    self._drop()  # a half-read answer leaves the stream unusable
                    raise

    def _drop(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
            self.stream = None

    def close(self) -> None:
        """Close without waiting for the lock: a question of an abandoned batch may hold
        it until its timeouts run out, and the sweep's deadline must not wait for that
        (the blocked read fails once the stream is closed)."""
        self.closed = True
        stream = self.stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def _exchange(
    question: dns.message.Message,
    server: str,
    port: int,
    timeout: float,
    session: TcpSession | None,
) -> tuple[dns.message.Message, bool]:
    """Send one query with dnspython; raise TimeoutError / ConnectionRefusedError /
    OSError / EOFError / DNSException. Returns (answer, truncated-so-TCP-was-used)."""
    import dns.query

    if session is not None:
        return session.exchange(question, timeout), False
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        # A connected UDP socket reports ICMP port-unreachable as ECONNREFUSED, so a dead
        # resolver is told apart from a silent one.
        udp.connect((server, port))
        udp.setblocking(False)
        answer, used_tcp = dns.query.udp_with_fallback(
            question, server, timeout=timeout, port=port, udp_sock=udp
        )
    return answer, used_tcp


def _ask(
    name: str,
    rdtype: str,
    server: str,
    port: int,
    timeout: float,
    session: TcpSession | None,
    vantage: str,
) -> tuple[str, dns.message.Message | None, str, bool]:
    """(outcome, answer, detail, truncated) for one question to one server."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.rcode

    from readiness.net.vantage import VantageError

    question = dns.message.make_query(name, rdtype)
    question.flags |= dns.flags.RD
    QUERIES.add(name, rdtype, f"{server}:{port}", vantage)
    try:
        answer, truncated = _exchange(question, server, port, timeout, session)
    except (TimeoutError, dns.exception.Timeout):
        return "timeout", None, f"no answer within {timeout:.2g}s", False
    except VantageError as exc:
        return "vantage", None, str(exc), False
    except ConnectionRefusedError:
        return (
            "unreachable",
            None,
            "connection refused (nothing listens on the resolver port)",
            False,
        )
    except EOFError:
        return "unreachable", None, "the connection closed before the answer was complete", False
    except OSError as exc:
        return "unreachable", None, str(exc) or type(exc).__name__, False
    except (dns.exception.DNSException, ValueError) as exc:
        return "bad-response", None, f"malformed answer: {exc}", False
    rcode = answer.rcode()
    outcome = {
        dns.rcode.NOERROR: "ok",
        dns.rcode.NXDOMAIN: "nxdomain",
        dns.rcode.SERVFAIL: "servfail",
        dns.rcode.REFUSED: "refused",
    }.get(rcode, "rcode")
    detail = f"rcode {dns.rcode.to_text(rcode)}" if outcome == "rcode" else ""
    return outcome, answer, detail, truncated


def _records(answer: dns.message.Message, name: str, rdtype: str) -> tuple[list[Record], list[str]]:
    """Records of ``rdtype`` for ``name`` in ``answer``, following CNAMEs within it.

    Returns (records, cname chain); if the chain leaves the answer, the last element
    of the chain is the name still to be asked.
    """
    import dns.name
    import dns.rdatatype

    current = dns.name.from_text(name)
    chain: list[str] = []
    wanted = dns.rdatatype.from_text(rdtype)
    for _ in range(MAX_CNAME_HOPS + 1):
        found = [rrset for rrset in answer.answer if rrset.name == current]
        records = [
            Record(
                rrset.name.to_text(omit_final_dot=True), rdtype, rrset.ttl, _value(rdata, wanted)
            )
            for rrset in found
            if rrset.rdtype == wanted
            for rdata in rrset
        ]
        if records or wanted == dns.rdatatype.CNAME:
            return records, chain
        cname = next((rrset for rrset in found if rrset.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            return [], chain
        current = cname[0].target
        chain.append(current.to_text(omit_final_dot=True))
    return [], chain


def _value(rdata: Any, rdtype: int) -> str:
    import dns.rdatatype

    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return str(rdata.to_text())


def _negative(answer: dns.message.Message) -> bool:
    """True when the answer carries an SOA in its authority section: the server says
    the (end of the) chain has no such record, so there is nothing left to chase."""
    import dns.rdatatype

    return any(rrset.rdtype == dns.rdatatype.SOA for rrset in answer.authority)


def query(
    name: str,
    rdtype: str,
    resolver: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    via: Connector | None = None,
    session: TcpSession | None = None,
    vantage: str = "local",
) -> Answer:
    """Ask ``resolver`` ("host" or "host:port") for the ``rdtype`` records of ``name``:
    over UDP from here, or over TCP through ``via`` (a new stream) or ``session`` (one
    kept open by the caller)."""
    host, port = split_host_port(resolver)
    label = format_resolver(resolver)
    try:
        server = _resolver_address(host)
    except OSError as exc:
        return Answer(
            name,
            rdtype,
            label,
            vantage,
            "unreachable",
            detail=f"cannot find the resolver {host}: {exc}",
        )
    if session is None and via is not None:
        session = TcpSession(via, server, port)
        try:
            return _query(name, rdtype, label, server, port, timeout, session, vantage)
        finally:
            session.close()
    return _query(name, rdtype, label, server, port, timeout, session, vantage)


def _query(
    name: str,
    rdtype: str,
    label: str,
    server: str,
    port: int,
    timeout: float,
    session: TcpSession | None,
    vantage: str,
) -> Answer:
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    chain: list[str] = []
    qname = name
    truncated = False
    for hop in range(1, MAX_CNAME_HOPS + 1):
        left = max(deadline - time.monotonic(), 0.2)
        outcome, answer, detail, was_truncated = _ask(
            qname, rdtype, server, port, left, session, vantage
        )
        truncated |= was_truncated
        found: list[Record] = []
        more: list[str] = []
        if answer is not None and outcome in ("ok", "nxdomain"):
            # NXDOMAIN for the end of a CNAME chain still names the chain.
            found, more = _records(answer, qname, rdtype)
            chain.extend(c for c in more if c not in chain)
        if outcome == "ok" and not found and more and answer is not None and not _negative(answer):
            qname = more[-1]  # the chain leaves what this server knows: ask about its end
            continue
        if outcome == "ok" and not found:
            outcome = "nodata"
        return Answer(
            name,
            rdtype,
            label,
            vantage,
            outcome,
            tuple(found),
            tuple(chain),
            detail,
            hop,
            (time.perf_counter() - started) * 1000,
            truncated,
        )
    return Answer(
        name,
        rdtype,
        label,
        vantage,
        "loop",
        cnames=tuple(chain),
        queries=MAX_CNAME_HOPS,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


# ----------------------------------------------------------------------------- addresses


def _combine(name: str, label: str, vantage: str, a: Answer, aaaa: Answer | None) -> Lookup:
    """A and AAAA answers -> the host's addresses (IPv4 first); no AAAA answer when A
    could not be asked."""
    answers = [a] if aaaa is None else [a, aaaa]
    queries = sum(x.queries for x in answers)
    elapsed = sum(x.elapsed_ms for x in answers)
    chain = tuple(dict.fromkeys(c for x in answers for c in x.cnames))
    addresses = tuple(dict.fromkeys(v for x in answers for v in sorted(x.values)))
    for answer in answers:
        if answer.outcome in ERROR_OUTCOMES:
            if addresses:  # one family answered; a resolver that drops AAAA is common
                return Lookup(
                    name,
                    label,
                    vantage,
                    "ok",
                    addresses,
                    chain,
                    detail=f"{answer.rdtype}: {answer.outcome} ({answer.detail})",
                    queries=queries,
                    elapsed_ms=elapsed,
                )
            return Lookup(
                name,
                label,
                vantage,
                answer.outcome,
                cnames=chain,
                detail=answer.detail,
                queries=queries,
                elapsed_ms=elapsed,
            )
    if addresses:
        return Lookup(
            name, label, vantage, "ok", addresses, chain, queries=queries, elapsed_ms=elapsed
        )
    outcome = "nxdomain" if any(x.outcome == "nxdomain" for x in answers) else "nodata"
    return Lookup(name, label, vantage, outcome, cnames=chain, queries=queries, elapsed_ms=elapsed)


def lookup(
    name: str,
    resolver: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    via: Connector | None = None,
    vantage: str = "local",
) -> Lookup:
    """Ask ``resolver`` for the A and AAAA records of ``name`` (uncached; through
    ``via``, both questions share one TCP stream)."""
    session: TcpSession | None = None
    if via is not None:
        host, port = split_host_port(resolver)
        try:
            session = TcpSession(via, _resolver_address(host), port)
        except OSError as exc:
            return Lookup(
                name,
                format_resolver(resolver),
                vantage,
                "unreachable",
                detail=f"cannot find the resolver {host}: {exc}",
            )
    try:
        a = query(name, "A", resolver, timeout, session=session, vantage=vantage)
        if a.outcome in ERROR_OUTCOMES:  # a resolver that fails on A is not asked again
            return _combine(name, a.resolver, vantage, a, None)
        aaaa = query(name, "AAAA", resolver, timeout, session=session, vantage=vantage)
        return _combine(name, a.resolver, vantage, a, aaaa)
    finally:
        if session is not None:
            session.close()


def system_lookup(name: str, vantage: str = "local") -> Lookup:
    """Ask the operating system's resolver (chosen by an empty resolver list)."""
    started = time.perf_counter()
    QUERIES.add(name, "ANY", SYSTEM, vantage)
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        outcome = {
            socket.EAI_NONAME: "nxdomain",
            getattr(socket, "EAI_NODATA", -5): "nodata",
            socket.EAI_AGAIN: "timeout",
        }.get(exc.errno, "servfail")
        return Lookup(
            name,
            SYSTEM,
            vantage,
            outcome,
            detail=str(exc.strerror),
            queries=1,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    return Lookup(
        name,
        SYSTEM,
        vantage,
        "ok",
        addresses,
        queries=1,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def resolve(
    host: str,
    resolvers: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    *,
    lookup_fn: Callable[[str, str], Lookup] | None = None,
) -> list[str]:
    """Addresses of ``host``: IP literals as they are; else the first resolver that
    answers (a definite NXDOMAIN/NODATA ends the search); ``[]`` resolvers = the OS.
    ``lookup_fn(host, resolver)`` replaces the uncached lookups (the sweep's cache)."""

    def uncached(name: str, resolver: str) -> Lookup:
        return system_lookup(name) if resolver == SYSTEM else lookup(name, resolver, timeout)

    lookup_fn = lookup_fn or uncached
    host = host.strip()
    if is_ip(host):
        return [host.strip("[]")]
    last: Lookup | None = None
    for resolver in resolvers or [SYSTEM]:
        result = lookup_fn(host, resolver)
        if result.ok:
            return list(result.addresses)
        last = result
        if result.is_failure:
            break
    assert last is not None
    raise last.error()


# ----------------------------------------------------------------------------- the sweep's cache

T = TypeVar("T")


class Shared(Protocol):
    """A once-per-sweep cache (``RunContext.shared``)."""

    def __call__(self, key: tuple[object, ...], compute: Callable[[], T]) -> T | BaseException: ...


class DnsService:
    """The sweep's DNS: every question asked once per sweep, from any vantage point.

    ``vantage(name)`` gives the vantage point to ask from (``local``: this machine, over
    UDP; an SSH jump host: TCP through it); ``limit(server)`` holds one of the server's
    concurrency slots. Lookups never raise for DNS trouble; :meth:`resolve` does.
    """

    def __init__(
        self,
        programme_resolvers: Sequence[str],
        shared: Shared,
        vantage: Callable[[str], Connector | None],
        limit: Callable[[str], contextlib.AbstractContextManager[None]],
    ) -> None:
        self.programme = [format_resolver(r) for r in programme_resolvers] or [SYSTEM]
        self._shared = shared
        self._vantage = vantage
        self._limit = limit
        self._sessions: dict[tuple[str, str], TcpSession] = {}
        self._lock = threading.Lock()

    def _session(self, via: Connector | None, vantage: str, label: str) -> TcpSession | None:
        """The TCP stream kept open to ``label`` through vantage point ``vantage``."""
        if via is None:
            return None
        with self._lock:
            found = self._sessions.get((vantage, label))
            if found is None:
                host, port = split_host_port(label)
                found = self._sessions[(vantage, label)] = TcpSession(
                    via, _resolver_address(host), port
                )
            return found

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def query(
        self,
        name: str,
        rdtype: str,
        resolver: str,
        vantage: str = "local",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Answer:
        label = format_resolver(resolver)
        rdtype = rdtype.upper()
        key = ("dns", canonical(name), rdtype, label, vantage)

        def compute() -> Answer:
            try:
                session = self._session(self._vantage(vantage), vantage, label)
            except Exception as exc:
                return Answer(name, rdtype, label, vantage, "vantage", detail=str(exc))
            with self._limit(f"dns:{label}@{vantage}"):
                return query(name, rdtype, label, timeout, session=session, vantage=vantage)

        found = self._shared(key, compute)
        if isinstance(found, BaseException):
            return Answer(
                name,
                rdtype,
                label,
                vantage,
                "bad-response",
                detail=f"{type(found).__name__}: {found}",
            )
        return found

    def lookup(
        self, host: str, resolver: str, vantage: str = "local", timeout: float = DEFAULT_TIMEOUT
    ) -> Lookup:
        """The addresses of ``host`` from ``resolver`` (or :data:`SYSTEM`), cached."""
        label = format_resolver(resolver)
        if label == SYSTEM:
            found = self._shared(
                ("dns", canonical(host), "A+AAAA", SYSTEM, vantage),
                lambda: system_lookup(host, vantage),
            )
            if isinstance(found, BaseException):
                return Lookup(host, SYSTEM, vantage, "bad-response", detail=str(found))
            return found
        a = self.query(host, "A", label, vantage, timeout)
        if a.outcome in ERROR_OUTCOMES:  # a resolver that fails on A is not asked again
            return _combine(host, label, vantage, a, None)
        aaaa = self.query(host, "AAAA", label, vantage, timeout)
        return _combine(host, label, vantage, a, aaaa)

    def resolve(self, host: str) -> list[str]:
        """Addresses of ``host`` as the sweep finds servers (``programme.resolvers``;
        none = the OS resolver). Raises :class:`ResolveError`."""
        return resolve(host, self.programme, lookup_fn=self.lookup)

"""SIP as the telephony family speaks it: OPTIONS out, responses in, matched to their
transactions, over one shared socket or stream.

* :func:`options` builds one OPTIONS request (RFC 3261 section 11) with a fresh
  branch, Call-ID and tag; every value put into it is checked to hold no white space or
  control character, so nothing read from an inventory can inject a header.
* :func:`parse_response` reads one response as far as this family needs (status line,
  top Via's branch, Call-ID, CSeq, Content-Length, and any header on request), with
  bounds everywhere: at most :data:`MAX_MESSAGE` bytes, :data:`MAX_LINES` header lines,
  a body exactly as long as Content-Length says (a shorter one is truncated: RFC 3261
  section 18.3). Anything else raises :class:`MalformedMessage` with the reason.
* :func:`exchange` runs many non-INVITE client transactions at once over ONE channel:
  a connected UDP socket (:class:`Datagrams`: retransmission with timers E and F of RFC
  3261 section 17.1.2, T1 doubling up to T2, then every T2 after a provisional
  response) or a stream (:class:`Frames`: TCP, TLS, an SSH channel; no retransmission
  on a reliable transport, messages framed by Content-Length). A response belongs to the
  transaction whose Via branch AND Call-ID it carries; every other response is
  counted and set aside, never taken as an answer.

Why hand-written rather than a library: ``sipmessage`` (the maintained pure-Python SIP
parser on PyPI) was measured at about 60 us to build and 130 us to parse one message
on this project's 2-core machine: 3 to 6 s of CPU for the 20,000 extensions of the
benchmark, which has a 5 s budget for the whole family, and it has no framing or
transactions. This module builds from a template and parses only what it uses (a few
microseconds each); its parser is fuzzed with hypothesis (tests/telephony).
"""

from __future__ import annotations

import errno
import heapq
import itertools
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from readiness.net.streams import Stream

__all__ = [
    "MAX_LINES",
    "MAX_MESSAGE",
    "STATS",
    "T1",
    "T2",
    "ChannelClosed",
    "Datagrams",
    "Exchange",
    "Frames",
    "MalformedMessage",
    "Outcome",
    "Request",
    "Response",
    "exchange",
    "options",
    "parse_response",
]

MAX_MESSAGE = 65_535  # bytes in one message (the largest UDP datagram)
MAX_LINES = 256  # header lines in one message
T1, T2 = 0.5, 4.0  # RFC 3261 timer values (seconds)
SAMPLES = 3  # reasons kept of set-aside and malformed responses
_COMPACT = {"v": "via", "i": "call-id", "l": "content-length", "f": "from", "t": "to"}
_TOKEN = re.compile(r"^[!-~]+$")  # printable ASCII, no space: safe in a start line or header
_STATUS = re.compile(rb"^SIP/2\.0 ([1-6][0-9][0-9]) ?([^\x00-\x08\x0a-\x1f\x7f]*)$")


class Stats:
    """What this module sent: channels (sockets or streams) used, transactions,
    transmissions (retransmissions included). Thread-safe; benchmarks and tests read
    :data:`STATS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.channels = self.transactions = self.transmissions = 0

    def add(self, *, channels: int = 0, transactions: int = 0, transmissions: int = 0) -> None:
        with self._lock:
            self.channels += channels
            self.transactions += transactions
            self.transmissions += transmissions

    def reset(self) -> None:
        with self._lock:
            self.channels = self.transactions = self.transmissions = 0


STATS = Stats()


class MalformedMessage(ValueError):
    """Bytes that are not a SIP response this module accepts; the message says why."""


class ChannelClosed(ConnectionError):
    """The stream ended (or broke its framing): no response can arrive on it any more."""


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Request:
    """One request on the wire and what identifies its transaction."""

    data: bytes
    branch: str
    call_id: str


_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count()


def _token(value: str, what: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"{what} {value!r} is empty or holds white space or control characters")
    return value


def options(
    uri: str, *, to: str | None = None, transport: str, via_host: str, via_port: int | None
) -> Request:
    """An OPTIONS request for ``uri`` (``sip:host:port`` or ``sip:user@domain``) sent
    over ``transport`` (UDP, TCP or TLS) from ``via_host:via_port`` (responses to UDP
    come back there; ``rport`` asks for them to the source port actually seen)."""
    _token(uri, "request URI")
    _token(to or uri, "To URI")
    _token(via_host, "Via host")
    if transport.upper() not in ("UDP", "TCP", "TLS"):
        raise ValueError(f"transport {transport!r} is not UDP, TCP or TLS")
    # Unique, not secret: a random prefix per process and a counter (one urandom per
    # message would be a system call each, 20,000 times).
    n = f"{_PREFIX}{next(_COUNTER):x}"
    branch = f"z9hG4bK-{n}"  # the magic cookie of RFC 3261 section 8.1.1.7
    call_id = f"{n}@readiness"
    sent_by = via_host if via_port is None else f"{via_host}:{via_port}"
    text = (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {sent_by};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:readiness@{via_host}>;tag={n}\r\n"
        f"To: <{to or uri}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: day1-readiness\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return Request(text.encode("ascii"), branch, call_id)


@dataclass(frozen=True, slots=True)
class Response:
    code: int
    reason: str
    branch: str  # of the top Via
    call_id: str
    cseq_method: str
    headers: Mapping[str, str]  # lower-case full name -> first value

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _split(data: bytes) -> tuple[bytes, bytes]:
    if len(data) > MAX_MESSAGE:
        raise MalformedMessage(f"a message of {len(data)} bytes (at most {MAX_MESSAGE})")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise MalformedMessage("the header block does not end (truncated message?)")
    return head, body


def _headers(lines: list[str]) -> dict[str, str]:
    """Lower-case full name -> first value (stripped when read); every line must be a
    header or the continuation of one."""
    if len(lines) > MAX_LINES:
        raise MalformedMessage(f"{len(lines)} header lines (at most {MAX_LINES})")
    found: dict[str, str] = {}
    last = ""
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or name[:1] in (" ", "\t", ""):
            if line[:1] in (" ", "\t") and last:  # folded continuation of the last header
                found[last] = f"{found[last]} {line.strip()}"
                continue
            raise MalformedMessage(
                "a continuation line before any header"
                if line[:1] in (" ", "\t")
                else f"not a header line: {line[:60]!r}"
            )
        name = name.rstrip().lower()
        if not (name.isascii() and name.isprintable()) or " " in name or "\t" in name:
            raise MalformedMessage(f"not a header line: {line[:60]!r}")
        name = _COMPACT.get(name, name)
        if name in found:
            last = ""
        else:
            found[name] = value
            last = name
    return found


def _branch(via: str) -> str:
    first = via.split(",", 1)[0]
    for param in first.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "branch":
            return value.strip()
    return ""


def parse_response(data: bytes) -> Response:
    """The response in ``data`` (one whole message); :class:`MalformedMessage` if it is
    not one: a request, a bad status line, a missing Via/Call-ID/CSeq, a body shorter
    than its Content-Length, more than the bounds allow."""
    head, body = _split(data)
    status, _, rest = head.partition(b"\r\n")
    matched = _STATUS.match(status)
    if matched is None:
        shown = status[:60].decode("utf-8", "replace")
        raise MalformedMessage(f"not a SIP/2.0 status line: {shown!r}")
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("a header line is not UTF-8") from None
    headers = {k: v.strip() for k, v in _headers(text.split("\r\n") if text else []).items()}
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > MAX_MESSAGE:
            raise MalformedMessage(f"Content-Length {length[:20]!r} is not a byte count")
        if len(body) < int(length):
            raise MalformedMessage(
                f"truncated: Content-Length {length} but {len(body)} bytes of body"
            )
    for required in ("via", "call-id", "cseq"):
        if not headers.get(required):
            raise MalformedMessage(f"no {required.title()} header")
    cseq = headers["cseq"].split()
    if len(cseq) != 2 or not cseq[0].isdigit():
        raise MalformedMessage(f"CSeq {headers['cseq'][:40]!r} is not 'number METHOD'")
    return Response(
        int(matched.group(1)),
        matched.group(2).decode("utf-8", "replace").strip(),
        _branch(headers["via"]),
        headers["call-id"],
        cseq[1].upper(),
        headers,
    )


# --------------------------------------------------------------------------- channels


class Channel(Protocol):
    """Where transactions are sent: one message out, one message (or None) in."""

    reliable: bool

    @property
    def unfinished(self) -> int:
        """Bytes of a message begun but not complete (a truncated one, at the end)."""
        ...

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout: float) -> list[bytes]:
        """The whole messages that came within ``timeout`` (none: an empty list)."""
        ...


class Datagrams:
    """A connected UDP socket: one datagram is one message. ICMP port unreachable comes
    back as ``ConnectionRefusedError``; a datagram larger than :data:`MAX_MESSAGE` is
    returned whole and refused by the parser. One wait, then every datagram already
    there (at most ``BURST``): two system calls per message would be most of the cost."""

    reliable = False
    unfinished = 0  # a datagram is always whole
    BURST = 256

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)
        self.poll = select.poll()
        self.poll.register(sock, select.POLLIN)

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except BlockingIOError:  # the send buffer is full: wait for room once
            select.select([], [self.sock], [], 1.0)
            self.sock.send(data)

    def receive(self, timeout: float) -> list[bytes]:
        if not self.poll.poll(max(timeout, 0.0) * 1000):
            return []
        found: list[bytes] = []
        recv = self.sock.recv
        try:
            while len(found) < self.BURST:
                found.append(recv(MAX_MESSAGE + 1))
        except BlockingIOError:
            pass
        return found


class Frames:
    """A stream (TCP, TLS, an SSH channel) cut into messages by Content-Length, which
    RFC 3261 section 18.3 makes mandatory on streams. Keep-alive CRLFs are skipped. A
    message that cannot be framed (no end of headers within :data:`MAX_MESSAGE`, no or
    a bad Content-Length) breaks the stream: :class:`ChannelClosed`."""

    reliable = True

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer = b""

    @property
    def unfinished(self) -> int:
        return len(self.buffer.lstrip(b"\r\n"))

    def send(self, data: bytes) -> None:
        self.stream.sendall(data)

    def _frame(self) -> bytes | None:
        self.buffer = self.buffer.lstrip(b"\r\n")
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_MESSAGE:
                raise ChannelClosed(f"no end of headers within {MAX_MESSAGE} bytes")
            return None
        head = self.buffer[:end]
        length: int | None = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                text = value.strip()
                if not text.isdigit() or int(text) > MAX_MESSAGE:
                    raise ChannelClosed(f"a Content-Length of {text[:20]!r} cannot frame a message")
                length = int(text)
                break
        if length is None:
            raise ChannelClosed("a message without Content-Length on a stream")
        total = end + 4 + length
        if len(self.buffer) < total:
            return None
        message, self.buffer = self.buffer[:total], self.buffer[total:]
        return message

    def receive(self, timeout: float) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found: list[bytes] = []
            while (message := self._frame()) is not None:
                found.append(message)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self.stream.settimeout(max(left, 0.001))
            try:
                data = self.stream.recv(MAX_MESSAGE)
            except TimeoutError:
                return []
            if not data:
                shown = (
                    f" ({len(self.buffer)} bytes of an unfinished message)" if self.buffer else ""
                )
                raise ChannelClosed(f"the peer closed the connection{shown}")
            self.buffer += data


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one transaction ended: a final response, or why none came."""

    response: Response | None
    error: str = ""  # no-answer | refused | unreachable | closed (when response is None)
    detail: str = ""
    sent: int = 0  # transmissions, the first included
    provisional: int = 0  # 1xx responses seen
    rtt_ms: float | None = None  # first transmission -> final response


@dataclass
class Exchange:
    """Every transaction's outcome (in the order asked) and what arrived unasked."""

    outcomes: list[Outcome]
    set_aside: int = 0  # responses matching no transaction (another branch or Call-ID)
    malformed: int = 0  # messages that could not be read as responses
    reasons: list[str] = field(default_factory=list)  # a few, for reports

    def note(self, reason: str) -> None:
        if len(self.reasons) < SAMPLES:
            self.reasons.append(reason)


@dataclass(slots=True)
class _Tx:
    index: int
    request: Request
    first: float
    deadline: float
    interval: float
    due: float  # the next timer (retransmission or deadline)
    sent: int = 1
    provisional: int = 0


def _failure(exc: OSError) -> tuple[str, str]:
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "ICMP port unreachable: nothing listens there"
    if isinstance(exc, ChannelClosed):
        return "closed", str(exc)
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable", exc.strerror or "no route to the host"
    return "closed", exc.strerror or str(exc) or type(exc).__name__


def exchange(
    channel: Channel,
    requests: Sequence[Request],
    *,
    timeout: float,
    window: int = 64,
    t1: float = T1,
    t2: float = T2,
    clock: Callable[[], float] = time.monotonic,
) -> Exchange:
    """Run one transaction per request over ``channel``, at most ``window`` at once;
    each gets its final response or, after ``timeout`` seconds, ``no-answer``. A
    channel that fails ends every transaction not yet answered (``refused``,
    ``unreachable`` or ``closed``)."""
    result = Exchange([Outcome(None)] * len(requests))
    pending: dict[tuple[str, str], _Tx] = {}
    timers: list[tuple[float, int]] = []  # (due, index): stale entries are skipped
    done: set[tuple[str, str]] = set()
    by_index: dict[int, tuple[str, str]] = {}
    queued = 0

    def finish(tx: _Tx, outcome: Outcome) -> None:
        key = (tx.request.branch, tx.request.call_id)
        del pending[key]
        done.add(key)
        result.outcomes[tx.index] = outcome

    def fail_all(error: str, detail: str) -> None:
        nonlocal queued
        for tx in list(pending.values()):
            finish(tx, Outcome(None, error, detail, tx.sent, tx.provisional))
        for index in range(queued, len(requests)):
            result.outcomes[index] = Outcome(None, error, detail)
        queued = len(requests)

    try:
        while queued < len(requests) or pending:
            now = clock()
            while queued < len(requests) and len(pending) < window:
                request = requests[queued]
                interval = t1 if not channel.reliable else timeout
                tx = _Tx(
                    queued,
                    request,
                    now,
                    now + timeout,
                    interval,
                    min(now + interval, now + timeout),
                )
                key = (request.branch, request.call_id)
                pending[key] = tx
                by_index[queued] = key
                heapq.heappush(timers, (tx.due, queued))
                queued += 1
                channel.send(request.data)
            while timers and timers[0][0] <= now:
                due, index = heapq.heappop(timers)
                tx_found = pending.get(by_index[index])
                if tx_found is None or tx_found.due != due:
                    continue
                tx = tx_found
                if now >= tx.deadline:
                    finish(
                        tx,
                        Outcome(
                            None,
                            "no-answer",
                            f"no final response within {timeout:g} s after {tx.sent} "
                            f"transmission{'s' if tx.sent > 1 else ''}",
                            tx.sent,
                            tx.provisional,
                        ),
                    )
                    continue
                channel.send(tx.request.data)  # timer E: retransmit (UDP only)
                tx.sent += 1
                tx.interval = t2 if tx.provisional else min(tx.interval * 2, t2)
                tx.due = min(now + tx.interval, tx.deadline)
                heapq.heappush(timers, (tx.due, index))
            if not pending:
                continue
            wait = (timers[0][0] - clock()) if timers else timeout
            for data in channel.receive(max(wait, 0.0)):
                _receive(data, pending, done, result, finish, clock)
    except OSError as exc:
        fail_all(*_failure(exc))
    STATS.add(
        channels=1,
        transactions=len(requests),
        transmissions=sum(o.sent for o in result.outcomes),
    )
    if channel.unfinished:
        result.malformed += 1
        result.note(f"truncated: {channel.unfinished} bytes of a message that never ended")
    return result


def _receive(
    data: bytes,
    pending: dict[tuple[str, str], _Tx],
    done: set[tuple[str, str]],
    result: Exchange,
    finish: Callable[[_Tx, Outcome], None],
    clock: Callable[[], float],
) -> None:
    try:
        response = parse_response(data)
    except MalformedMessage as exc:
        result.malformed += 1
        result.note(f"malformed: {exc}")
        return
    key = (response.branch, response.call_id)
    tx = pending.get(key)
    if tx is None or response.cseq_method != "OPTIONS":
        if key not in done:  # a retransmitted final response of a finished one is normal
            result.set_aside += 1
            result.note(
                f"set aside: {response.code} with Call-ID {response.call_id[:60]!r} and "
                f"branch {response.branch[:40]!r}, which match no request sent"
            )
        return
    if response.code < 200:
        tx.provisional += 1
        return
    rtt = (clock() - tx.first) * 1000
    finish(tx, Outcome(response, sent=tx.sent, provisional=tx.provisional, rtt_ms=rtt))

"""Recipients verified at an MX: RCPT TO only, never DATA.

Many recipients per session (``MAIL FROM``, up to ``per_transaction`` RCPTs, ``RSET``,
again), pipelined in windows when the server offers PIPELINING, ``sessions``
concurrent sessions per MX host (each also holding one of the sweep's per-server
slots). A session is reopened transparently when the server drops it (Postfix closes
after ``smtpd_hard_error_limit`` errors with a ``421``) and, before that happens,
after ``errors_per_session`` rejections. A ``4xx`` answer is retried once after
``retry_delay``; still ``4xx``, it is reported as such (the family makes it
``error``). An address whose session broke is retried in a new one, twice at most.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from readiness.net.streams import Stream

from .model import Rcpt
from .smtp import Reply, SmtpClosed, SmtpSession

__all__ = ["Outcome", "Stats", "verify"]

MAX_BROKEN = 2  # sessions that may break under one address before it is an error


@dataclass(frozen=True)
class Outcome:
    """What the MX said to one recipient."""

    address: str
    kind: str  # accepted | rejected | deferred | refused | broken
    reply: str  # the server's reply, or what went wrong
    code: int = 0
    enhanced: str = ""
    server: str = ""  # host:port asked


@dataclass
class Stats:
    sessions: int = 0
    rcpts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, sessions: int = 0, rcpts: int = 0) -> None:
        with self.lock:
            self.sessions += sessions
            self.rcpts += rcpts


class _Queue:
    """Addresses still to ask, with the sessions that broke under each."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.todo: deque[str] = deque(addresses)
        self.broken: dict[str, int] = {}
        self.lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self.lock:
            return [self.todo.popleft() for _ in range(min(n, len(self.todo)))]

    def back(self, addresses: Sequence[str], broke: bool) -> list[str]:
        """Requeue; returns the addresses that broke too often (no longer queued)."""
        given_up: list[str] = []
        with self.lock:
            for a in addresses:
                if broke:
                    self.broken[a] = self.broken.get(a, 0) + 1
                if self.broken.get(a, 0) > MAX_BROKEN:
                    given_up.append(a)
                else:
                    self.todo.append(a)
        return given_up


def verify(
    addresses: Sequence[str],
    connect: Callable[[], Stream],
    server: str,
    settings: Rcpt,
    timeout: float,
    *,
    hold: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    stats: Stats | None = None,
) -> dict[str, Outcome]:
    """Ask ``server`` (reached by ``connect``) about every address; one Outcome each."""
    stats = stats or Stats()
    found = _round(addresses, connect, server, settings, timeout, hold, stats)
    deferred = [a for a, o in found.items() if o.kind == "deferred"]
    if deferred:
        time.sleep(settings.retry_delay)
        found.update(_round(deferred, connect, server, settings, timeout, hold, stats))
    return found


def _round(
    addresses: Sequence[str],
    connect: Callable[[], Stream],
    server: str,
    settings: Rcpt,
    timeout: float,
    hold: Callable[[], contextlib.AbstractContextManager[None]],
    stats: Stats,
) -> dict[str, Outcome]:
    queue = _Queue(addresses)
    found: dict[str, Outcome] = {}
    lock = threading.Lock()
    dead: list[Outcome] = []  # the server cannot be reached: stop asking it

    def record(outcomes: Iterable[Outcome]) -> None:
        with lock:
            for o in outcomes:
                found[o.address] = o

    def worker() -> None:
        while not dead:
            chunk = queue.take(settings.per_session)
            if not chunk:
                return
            with hold():
                done, left, broke, fatal = _session(
                    chunk, connect, server, settings, timeout, stats
                )
            record(done)
            if fatal is not None:
                dead.append(fatal)
                queue.back(left, broke=False)
                return
            for a in queue.back(left, bool(broke)):
                record(
                    [
                        Outcome(
                            a,
                            "broken",
                            f"the session broke {MAX_BROKEN + 1} times while "
                            f"asking about this address: {broke}",
                            server=server,
                        )
                    ]
                )

    workers = max(1, min(settings.sessions, -(-len(addresses) // settings.per_session)))
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    if dead:
        fatal = dead[0]
        for a in [*queue.take(len(addresses)), *(a for a in addresses if a not in found)]:
            found[a] = Outcome(a, fatal.kind, fatal.reply, fatal.code, fatal.enhanced, server)
    return found


def _classify(address: str, reply: Reply, server: str) -> Outcome:
    kind = (
        "accepted"
        if reply.code // 100 == 2
        else "rejected"
        if reply.code // 100 == 5
        else ("deferred")
    )
    return Outcome(address, kind, str(reply), reply.code, reply.enhanced, server)


def _session(
    chunk: list[str],
    connect: Callable[[], Stream],
    server: str,
    settings: Rcpt,
    timeout: float,
    stats: Stats,
) -> tuple[list[Outcome], list[str], str, Outcome | None]:
    """(answered, still to ask, why the session broke ("" if it did not), fatal outcome
    that applies to every address of this server (connection refused, banner refusal))."""
    try:
        stream = connect()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        return [], chunk, "", Outcome("", "refused", f"could not connect: {why}", server=server)
    stats.add(sessions=1)
    session = SmtpSession(stream, timeout)
    done: list[Outcome] = []  # answered: always the first len(done) addresses of chunk
    try:
        reply = session.greet()
        if reply.code // 100 == 4:  # e.g. 421 at the banner: deferred, retried once
            return [_classify(a, reply, server) for a in chunk], [], "", None
        if reply.code != 250:
            return (
                [],
                chunk,
                "",
                Outcome(
                    "",
                    "refused",
                    f"the server answered {reply}",
                    reply.code,
                    reply.enhanced,
                    server,
                ),
            )
        sender = f"MAIL FROM:<{settings.mail_from}>"
        errors = 0
        while len(done) < len(chunk) and errors < settings.errors_per_session:
            end = min(len(chunk), len(done) + settings.per_transaction)
            first = True
            while len(done) < end and errors < settings.errors_per_session:
                # Never more RCPTs in flight than rejections still allowed in this session.
                size = min(settings.window, settings.errors_per_session - errors)
                window = chunk[len(done) : min(end, len(done) + size)]
                commands = ([sender] if first else []) + [f"RCPT TO:<{a}>" for a in window]
                stats.add(rcpts=len(window))
                closed: SmtpClosed | None = None
                try:
                    replies = session.pipeline(commands)
                except SmtpClosed as exc:
                    replies, closed = exc.replies, exc
                if first and replies:
                    mail = replies.pop(0)
                    if mail.code != 250:
                        return (
                            done,
                            chunk[len(done) :],
                            "",
                            Outcome(
                                "",
                                "refused",
                                f"MAIL FROM:<{settings.mail_from}> answered {mail}",
                                mail.code,
                                mail.enhanced,
                                server,
                            ),
                        )
                first = False
                for address, r in zip(window, replies, strict=False):
                    if r.code == 421:  # the server is closing the session
                        closed = closed or SmtpClosed(str(r))
                        break
                    done.append(_classify(address, r, server))
                    errors += r.code // 100 != 2
                if closed is not None:
                    return done, chunk[len(done) :], str(closed), None
            if len(done) < len(chunk):
                session.command("RSET")
        return done, chunk[len(done) :], "", None
    except (SmtpClosed, OSError) as exc:
        return done, chunk[len(done) :], str(exc) or type(exc).__name__, None
    finally:
        session.quit()

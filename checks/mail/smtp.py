"""A small SMTP client for verification only: banner, EHLO, STARTTLS, MAIL FROM, RCPT TO,
RSET, QUIT, with RFC 2920 pipelining. It never sends DATA.

Why not smtplib: smtplib opens its own sockets (a vantage point's SSH channel is a
stream, not a socket) and does not expose pipelining, which turns 40,000 RCPTs into
40,000 round trips. This client runs over any :class:`readiness.net.streams.Stream`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from readiness.net.certificates import PreambleError
from readiness.net.streams import Stream

__all__ = ["EHLO_NAME", "Reply", "SmtpClosed", "SmtpFacts", "SmtpSession", "starttls_preamble"]

EHLO_NAME = "readiness-check.invalid"
MAX_LINE = 4096
MAX_LINES = 1000  # of one reply: an EHLO reply has a few dozen; a server never ending one


class SmtpClosed(ConnectionError):
    """The server closed the session (or sent something that is not SMTP); ``replies``
    are those received before, when commands were pipelined."""

    def __init__(self, message: str, replies: Sequence[Reply] = ()) -> None:
        super().__init__(message)
        self.replies = list(replies)


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    @property
    def enhanced(self) -> str:
        """The enhanced status code (RFC 3463) at the start of the text, or ""."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        parts = first.split(".")
        ok = len(parts) == 3 and all(p.isdigit() for p in parts)
        return first if ok and first[0] == str(self.code)[0] else ""


@dataclass
class SmtpFacts:
    """What the server said before any transaction."""

    banner: Reply | None = None
    ehlo: Reply | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    @property
    def starttls(self) -> bool:
        return "STARTTLS" in self.extensions


class SmtpSession:
    """One SMTP session over a stream; every method raises SmtpClosed or OSError."""

    def __init__(self, stream: Stream, timeout: float) -> None:
        self.stream = stream
        self.buffer = b""
        self.facts = SmtpFacts()
        self.commands = 0
        stream.settimeout(timeout)

    # ------------------------------------------------------------------ wire
    def _line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise SmtpClosed("the server sent a line longer than SMTP allows")
            chunk = self.stream.recv(65536)
            if not chunk:
                raise SmtpClosed("the server closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self) -> Reply:
        lines: list[str] = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
                raise SmtpClosed(f"not an SMTP reply: {line[:80]!r}")
            lines.append(line[4:])
            if len(lines) > MAX_LINES:
                raise SmtpClosed(f"the server sent a reply of more than {MAX_LINES} lines")
            if line[3:4] != "-":
                return Reply(int(line[:3]), tuple(lines))

    def send(self, *commands: str) -> None:
        self.commands += len(commands)
        self.stream.sendall("".join(f"{c}\r\n" for c in commands).encode("utf-8"))

    def command(self, text: str) -> Reply:
        self.send(text)
        return self.reply()

    # ------------------------------------------------------------------ steps
    def greet(self) -> Reply:
        """Read the banner and say EHLO; returns the EHLO reply (or the banner when it is
        not 220). The extensions offered land in ``facts``."""
        self.facts.banner = banner = self.reply()
        if banner.code != 220:
            return banner
        return self.ehlo()

    def ehlo(self) -> Reply:
        reply = self.command(f"EHLO {EHLO_NAME}")
        self.facts.ehlo = reply
        if reply.code == 250:
            self.facts.extensions = {
                k.upper(): v for k, _, v in (line.partition(" ") for line in reply.lines[1:])
            }
        return reply

    def pipeline(self, commands: Sequence[str]) -> list[Reply]:
        """Send ``commands`` at once (pipelining) or one by one; the replies in order.
        If the server closes midway, the replies received so far are in the raised
        SmtpClosed's ``replies`` attribute."""
        got: list[Reply] = []
        try:
            if self.facts.pipelining:
                self.send(*commands)
                for _ in commands:
                    got.append(self.reply())
            else:
                for command in commands:
                    got.append(self.command(command))
        except (SmtpClosed, OSError) as exc:
            raise SmtpClosed(str(exc) or type(exc).__name__, got) from exc
        return got

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.send("QUIT")
            self.reply()
        with contextlib.suppress(Exception):
            self.stream.close()


def starttls_preamble(timeout: float, seen: SmtpFacts) -> Callable[[Stream], None]:
    """The plain-text step before TLS for ``certificates.observe``: banner, EHLO, STARTTLS.
    What the server said lands in ``seen`` (the first look only)."""

    def preamble(stream: Stream) -> None:
        session = SmtpSession(stream, timeout)
        try:
            reply = session.greet()
        except SmtpClosed as exc:
            raise PreambleError(str(exc)) from None
        finally:
            if seen.banner is None:
                seen.banner, seen.ehlo = session.facts.banner, session.facts.ehlo
                seen.extensions = dict(session.facts.extensions)
        if reply.code != 250:
            raise PreambleError(f"the server answered {reply}")
        if not session.facts.starttls:
            raise PreambleError("the server does not offer STARTTLS")
        try:
            reply = session.command("STARTTLS")
        except SmtpClosed as exc:
            raise PreambleError(str(exc)) from None
        if reply.code != 220:
            raise PreambleError(f"STARTTLS answered {reply}")

    return preamble

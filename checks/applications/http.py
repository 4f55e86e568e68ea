"""HTTP/1.1 over any stream (a socket, TLS over an SSH channel), with h11.

h11 is sans-I/O: it parses and frames, we move the bytes, so one client serves every
vantage point. Reads are bounded twice: the whole exchange has one deadline (a server
trickling a byte a second cannot hold a probe longer than its timeout) and at most
``max_body`` bytes of body are kept (a huge body is cut, never loaded whole).
A connection is reused for the next request while both sides keep it alive.

Errors (:class:`HttpError`, ``code``): ``timeout`` (no complete head within the
deadline), ``closed`` (the server hung up or reset), ``protocol`` (not HTTP).
A head received but a body not finished in time is a :class:`Response` with
``complete`` False, so the status can still be judged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import h11

from readiness.net.streams import Stream

__all__ = ["REQUESTS", "Client", "Counter", "HttpError", "Response"]

READ = 65536
USER_AGENT = "day1-readiness"


class Counter:
    """How many times something happened in this process (requests sent, TLS handshakes
    started), from any thread: tests and benchmarks read ``count``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


REQUESTS = Counter()


class HttpError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names; the last value of a repeated header
    body: bytes  # at most max_body bytes
    elapsed_ms: float  # request sent -> response read (or the deadline)
    complete: bool = True  # the whole body arrived in time
    truncated: bool = False  # the body was longer than max_body

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """Requests to one origin over one stream; ``reopen`` makes a new stream when the
    server closed the previous one (None: no reuse beyond the first stream)."""

    def __init__(
        self, stream: Stream, host: str, reopen: Callable[[], Stream] | None = None
    ) -> None:
        self._stream: Stream | None = stream
        self._conn = h11.Connection(h11.CLIENT)
        self.host = host
        self._reopen = reopen

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _ready(self) -> Stream:
        if self._stream is not None and self._conn.our_state is h11.IDLE:
            return self._stream
        if (
            self._stream is not None
            and self._conn.our_state is h11.DONE
            and self._conn.their_state is h11.DONE
        ):
            self._conn.start_next_cycle()
            return self._stream
        self.close()
        if self._reopen is None:
            raise HttpError("closed", "the server closed the connection")
        self._stream = self._reopen()
        self._conn = h11.Connection(h11.CLIENT)
        return self._stream

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float,
        max_body: int,
    ) -> Response:
        stream = self._ready()
        fields = [("Host", self.host), ("User-Agent", USER_AGENT), ("Accept", "*/*")]
        fields += list((headers or {}).items())
        if body or method == "POST":
            fields.append(("Content-Length", str(len(body))))
        started = time.perf_counter()
        deadline = started + timeout
        try:
            out = self._conn.send(h11.Request(method=method, target=path, headers=fields))
            if body:
                out = (out or b"") + (self._conn.send(h11.Data(data=body)) or b"")
            out = (out or b"") + (self._conn.send(h11.EndOfMessage()) or b"")
            stream.settimeout(max(timeout, 0.01))
            stream.sendall(out)
            REQUESTS.add()
            head = self._next(stream, deadline, timeout)
            while isinstance(head, h11.InformationalResponse):
                head = self._next(stream, deadline, timeout)
        except h11.ProtocolError as exc:
            self.close()
            raise HttpError("protocol", f"not an HTTP/1.1 answer: {exc}") from None
        except TimeoutError:
            self.close()
            raise HttpError("timeout", f"no HTTP answer within {timeout:g} s") from None
        except OSError as exc:
            self.close()
            raise HttpError("closed", f"the connection failed: {exc.strerror or exc}") from None
        if not isinstance(head, h11.Response):
            self.close()
            raise HttpError("closed", "the server closed the connection without answering")
        headers_out = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        chunks, size, complete, truncated = [], 0, True, False
        try:
            while True:
                event = self._next(stream, deadline, timeout)
                if isinstance(event, h11.Data):
                    keep = max(0, max_body - size)
                    chunks.append(bytes(event.data[:keep]))
                    size += len(event.data)
                    if size > max_body:
                        truncated = True
                        break
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:  # ConnectionClosed mid-body
                    complete = False
                    break
        except (TimeoutError, OSError, h11.ProtocolError):
            complete = False
        if truncated or not complete:
            self.close()  # the rest is never read: this connection cannot be reused
        return Response(
            head.status_code,
            head.reason.decode("latin-1"),
            headers_out,
            b"".join(chunks),
            (time.perf_counter() - started) * 1000,
            complete,
            truncated,
        )

    def _next(self, stream: Stream, deadline: float, timeout: float) -> object:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout:g} s")
            stream.settimeout(left)
            self._conn.receive_data(stream.recv(READ))

"""Streams for the unit tests: no socket, no server process, no thread.

* ``ScriptedStream``: a peer that answers from a script (bytes, EOF, or an exception).
* ``MemoryTlsPeer``: a peer that is an in-memory OpenSSL server (an ``ssl.SSLObject``
  driven in the caller's thread) echoing application data in upper case. It is not a
  socket, so ``start_tls`` takes the MemoryBIO path, as with an SSH channel.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path


class ScriptedStream:
    def __init__(self, *replies: bytes | BaseException) -> None:
        self.replies = list(replies)
        self.sent = bytearray()
        self.closed = False
        self.timeout: float | None = None

    def sendall(self, data: bytes, /) -> None:
        if self.closed:
            raise OSError("Socket is closed")
        self.sent += data

    def recv(self, bufsize: int, /) -> bytes:
        if not self.replies:
            return b""
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if len(reply) > bufsize:
            self.replies.insert(0, reply[bufsize:])
        return reply[:bufsize]

    def settimeout(self, timeout: float | None, /) -> None:
        self.timeout = timeout

    def close(self) -> None:
        self.closed = True


class MemoryTlsPeer:
    def __init__(
        self, cert_file: Path, key_file: Path, *, version: ssl.TLSVersion | None = None
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        if version is not None:
            context.minimum_version = context.maximum_version = version
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.closed = False
        self.failed: ssl.SSLError | None = None
        self.received = bytearray()

    def sendall(self, data: bytes, /) -> None:
        if self.closed:
            raise OSError("Socket is closed")
        self._incoming.write(data)
        try:
            self._tls.do_handshake()
            while chunk := self._tls.read(65536):
                self.received += chunk
                self._tls.write(chunk.upper())
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        except ssl.SSLError as exc:  # e.g. the client's alert: the peer hangs up
            self.failed = exc

    def recv(self, bufsize: int, /) -> bytes:
        data = self._outgoing.read(bufsize)
        if data or self.failed is not None:
            return data
        raise TimeoutError("timed out")  # the server has nothing more to say

    def inject(self, raw: bytes) -> None:
        """Bytes that are not TLS, in the middle of the session."""
        self._outgoing.write(raw)

    def close_notify(self) -> None:
        """The server ends the session cleanly."""
        with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the client's reply
            self._tls.unwrap()

    def settimeout(self, timeout: float | None, /) -> None:
        pass

    def close(self) -> None:
        self.closed = True

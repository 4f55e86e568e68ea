"""TLS over any :class:`~readiness.net.streams.Stream`: a socket or an SSH channel.

``start_tls`` wraps a real ``socket.socket`` with ``SSLContext.wrap_socket``; any other
stream (a paramiko ``Channel`` from a jump host is not a socket) drives an
``ssl.SSLObject`` through two ``ssl.MemoryBIO`` buffers over the stream's own
``sendall``/``recv``. Either way the result is a :class:`TlsStream`, itself a ``Stream``,
so a protocol (HTTP, SMTP after STARTTLS, SIP) runs over it unchanged.

``timeout`` bounds every wait for the peer, as a socket timeout does. Errors form one
tree of ``OSError`` subclasses (code written for sockets still catches them), each with
a stable ``code`` for reports and root causes and a message free of secrets and of
received data::

    TlsError                  code
    ├── TlsHandshakeError     handshake  the peer answered, but no TLS session came of it
    │   └── TlsVerifyError    verify     the certificate chain was refused (verify_code)
    ├── TlsProtocolError      protocol   bad TLS after the handshake
    ├── TlsClosed             closed     the peer closed or reset the connection
    ├── TlsTimeout            timeout    no answer in time (also a TimeoutError)
    └── TlsConfigError        ca-bundle  the CA bundle cannot be loaded
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import ClassVar, TypeVar

from readiness.net.streams import Stream

__all__ = [
    "MAX_READ",
    "TlsClosed",
    "TlsConfigError",
    "TlsError",
    "TlsHandshakeError",
    "TlsProtocolError",
    "TlsStream",
    "TlsTimeout",
    "TlsVerifyError",
    "client_context",
    "start_tls",
]

MAX_READ = 65536  # the most one recv returns, whatever the caller asks for
_CHUNK = 16384  # the most one pump step reads from the underlying stream
_HANDSHAKE = "TLS handshake"
_T = TypeVar("_T")


class TlsError(OSError):
    """TLS could not be set up or used; ``code`` says which way, ``str()`` says why."""

    code: ClassVar[str] = "tls"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TlsHandshakeError(TlsError):
    code = "handshake"


class TlsVerifyError(TlsHandshakeError):
    """OpenSSL refused the certificate chain; its own code and message are kept."""

    code = "verify"

    def __init__(self, verify_code: int, verify_message: str) -> None:
        super().__init__(
            f"the certificate was refused: {verify_message} (OpenSSL verify code {verify_code})"
        )
        self.verify_code = verify_code
        self.verify_message = verify_message


class TlsProtocolError(TlsError):
    code = "protocol"


class TlsClosed(TlsError, ConnectionError):
    code = "closed"


class TlsTimeout(TlsError, TimeoutError):
    code = "timeout"


class TlsConfigError(TlsError):
    code = "ca-bundle"


def client_context(ca_file: str | None, *, verify: bool) -> ssl.SSLContext:
    """A client context for observing servers as they are.

    The chain is verified against ``ca_file`` (the system store when None) unless
    ``verify`` is False. Host names are NOT checked here: the certificate module judges
    the name, so a wrong name is reported as such rather than as a handshake error.
    Old protocols, small keys and SHA-1 are allowed wherever OpenSSL permits (security
    level 0), so the handshake reveals them and the judge can flag them.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if not verify:
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if ca_file is None:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"cannot load the CA bundle {ca_file or '(system store)'}: {_reason(exc)}"
        ) from None
    except OSError as exc:
        raise TlsConfigError(
            f"cannot read the CA bundle {ca_file}: {exc.strerror or exc}"
        ) from None
    return context


def start_tls(
    stream: Stream, *, server_name: str | None, context: ssl.SSLContext, timeout: float
) -> TlsStream:
    """Run the TLS handshake over ``stream`` (SNI ``server_name``) and return the session.

    From this call on the stream belongs to the result: it is closed when the handshake
    fails (a :class:`TlsError` is raised) and by ``TlsStream.close`` otherwise.
    """
    tls: TlsStream
    # Wrapping a socket may already meet the peer's reset (wrap_socket asks the socket).
    try:
        with _translated(_HANDSHAKE, timeout):
            stream.settimeout(timeout)
            if isinstance(stream, socket.socket):
                wrapped = context.wrap_socket(
                    stream, server_hostname=server_name, do_handshake_on_connect=False
                )
                tls = TlsStream(wrapped, wrapped, timeout)
            else:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
                tls = _PumpedTlsStream(obj, stream, timeout, incoming, outgoing)
    except BaseException:
        stream.close()
        raise
    try:
        with _translated(_HANDSHAKE, timeout):
            tls._call(tls._tls.do_handshake)
    except BaseException:
        tls.close()
        raise
    return tls


class TlsStream:
    """An established TLS session; a :class:`Stream` itself."""

    def __init__(
        self, tls: ssl.SSLSocket | ssl.SSLObject, stream: Stream, timeout: float | None
    ) -> None:
        self._tls = tls
        self._stream = stream
        self._timeout = timeout

    def _call(self, operation: Callable[[], _T]) -> _T:
        """Run one TLS operation (a socket does its own I/O)."""
        return operation()

    def sendall(self, data: bytes, /) -> None:
        view = memoryview(data)
        with _translated("write", self._timeout):
            while view:
                written = self._call(functools.partial(self._tls.write, view))
                view = view[written:]

    def recv(self, bufsize: int, /) -> bytes:
        """At most ``min(bufsize, MAX_READ)`` bytes; ``b""`` once the peer has closed."""
        if bufsize < 1:
            raise ValueError("bufsize must be positive")
        with _translated("read", self._timeout):
            try:
                return self._call(functools.partial(self._tls.read, min(bufsize, MAX_READ)))
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def settimeout(self, timeout: float | None, /) -> None:
        self._stream.settimeout(timeout)
        self._timeout = timeout

    def close(self) -> None:
        self._stream.close()

    def peer_certificate_der(self) -> bytes | None:
        """The server's own certificate (DER), verified or not; None if it sent none."""
        return self._tls.getpeercert(binary_form=True)

    def version(self) -> str | None:
        """The negotiated protocol, e.g. ``TLSv1.3``."""
        return self._tls.version()

    def cipher(self) -> str | None:
        """The negotiated cipher suite's name."""
        negotiated = self._tls.cipher()
        return negotiated[0] if negotiated else None


class _PumpedTlsStream(TlsStream):
    """TLS over a stream that is not a socket: OpenSSL reads and writes memory buffers,
    which this class moves to and from the stream."""

    def __init__(
        self,
        tls: ssl.SSLObject,
        stream: Stream,
        timeout: float,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        super().__init__(tls, stream, timeout)
        self._incoming = incoming
        self._outgoing = outgoing

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._stream.sendall(pending)

    def _call(self, operation: Callable[[], _T]) -> _T:
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush()
                data = self._stream.recv(_CHUNK)
                if data:
                    self._incoming.write(data)
                else:  # OpenSSL then raises SSLEOFError (or SSLZeroReturnError)
                    self._incoming.write_eof()
            except ssl.SSLError:
                with contextlib.suppress(OSError):
                    self._flush()  # the alert that tells the peer why
                raise
            else:
                self._flush()
                return result


_HANDSHAKE_REASONS = {
    "WRONG_VERSION_NUMBER": "the server did not answer with TLS (is this a plain-text port?)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common with the server",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common with the server",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake "
    "(no cipher or key exchange in common?)",
}


def _reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason, e.g. ``WRONG_VERSION_NUMBER`` -> ``wrong version number``."""
    reason = exc.reason or exc.library or "unknown"
    return str(reason).lower().replace("_", " ")


@contextlib.contextmanager
def _translated(during: str, timeout: float | None) -> Iterator[None]:
    """Map ssl and socket errors raised ``during`` an operation onto the TlsError tree."""
    try:
        yield
    except TlsError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise TlsVerifyError(exc.verify_code, exc.verify_message) from None
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        raise TlsClosed(f"the peer closed the connection during the {during}") from None
    except ssl.SSLError as exc:
        if during == _HANDSHAKE:
            known = _HANDSHAKE_REASONS.get(str(exc.reason))
            raise TlsHandshakeError(known or f"the TLS handshake failed ({_reason(exc)})") from None
        raise TlsProtocolError(f"TLS failed during the {during} ({_reason(exc)})") from None
    except TimeoutError:
        waited = "" if timeout is None else f" within {timeout:g} s"
        raise TlsTimeout(f"no answer{waited} during the {during}") from None
    except OSError as exc:
        raise TlsClosed(
            f"the connection failed during the {during}: {exc.strerror or exc}"
        ) from None

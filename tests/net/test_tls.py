"""start_tls and client_context without any server: scripted peers and an in-memory
OpenSSL peer (the MemoryBIO path an SSH channel takes)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from readiness.net.tls import (
    MAX_READ,
    TlsClosed,
    TlsConfigError,
    TlsError,
    TlsHandshakeError,
    TlsProtocolError,
    TlsStream,
    TlsTimeout,
    TlsVerifyError,
    client_context,
    start_tls,
)

from .conftest import Pki
from .fakes import MemoryTlsPeer, ScriptedStream


def test_context_leaves_names_to_the_certificate_module_and_allows_old_protocols() -> None:
    context = client_context(None, verify=True)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is False
    assert context.minimum_version is ssl.TLSVersion.MINIMUM_SUPPORTED
    assert client_context(None, verify=False).verify_mode is ssl.CERT_NONE


def test_unusable_ca_bundles_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        TlsConfigError,
        match=r"cannot read the CA bundle /nonexistent/ca.pem: "
        "No such file or directory",
    ) as missing:
        client_context("/nonexistent/ca.pem", verify=True)
    assert missing.value.code == "ca-bundle"
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError, match=f"cannot load the CA bundle {junk}: "):
        client_context(str(junk), verify=True)


def _context() -> ssl.SSLContext:
    return client_context(None, verify=False)


@pytest.mark.parametrize(
    ("reply", "error", "code", "message"),
    [
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            TlsHandshakeError,
            "handshake",
            "the server did not answer with TLS (is this a plain-text port?)",
        ),
        (b"", TlsClosed, "closed", "the peer closed the connection during the TLS handshake"),
        (
            TimeoutError("timed out"),
            TlsTimeout,
            "timeout",
            "no answer within 2.5 s during the TLS handshake",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            TlsClosed,
            "closed",
            "the connection failed during the TLS handshake: Connection reset by peer",
        ),
    ],
)
def test_handshake_failures_map_to_one_tree(
    reply: bytes | BaseException, error: type[TlsError], code: str, message: str
) -> None:
    stream = ScriptedStream(reply)
    with pytest.raises(error) as caught:
        start_tls(stream, server_name="app.test", context=_context(), timeout=2.5)
    assert caught.value.code == code
    assert str(caught.value) == message
    assert isinstance(caught.value, OSError)
    assert stream.closed, "a failed handshake closes the stream"
    assert stream.timeout == 2.5
    assert stream.sent.startswith(b"\x16\x03"), "a ClientHello went out"


def test_a_tls_timeout_is_also_a_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        start_tls(ScriptedStream(TimeoutError()), server_name=None, context=_context(), timeout=1)


def test_tls_over_a_stream_that_is_not_a_socket(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["good"])
    tls = start_tls(
        peer,
        server_name="good.test",
        context=client_context(str(pki.ca_file), verify=True),
        timeout=1,
    )
    assert isinstance(tls, TlsStream)
    assert tls.version() == "TLSv1.3"
    assert tls.cipher()
    assert tls.peer_certificate_der() == pki.issued["good"].der
    # A protocol runs over it: large writes span several TLS records.
    payload = b"hello " * 5000
    tls.sendall(payload)
    echoed = bytearray()
    while len(echoed) < len(payload):
        chunk = tls.recv(MAX_READ * 4)
        assert 0 < len(chunk) <= MAX_READ, "reads are bounded"
        echoed += chunk
    assert bytes(echoed) == payload.upper()
    assert bytes(peer.received) == payload
    with pytest.raises(TlsTimeout, match="no answer within 1 s during the read"):
        tls.recv(10)
    peer.close_notify()
    assert tls.recv(10) == b"", "a clean close is the end of the stream"
    tls.close()
    assert peer.closed


def test_old_protocols_are_negotiated_so_they_can_be_flagged(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["good"], version=ssl.TLSVersion.TLSv1_2)
    tls = start_tls(peer, server_name="good.test", context=_context(), timeout=1)
    assert tls.version() == "TLSv1.2"


def _limited(maximum: ssl.TLSVersion, ciphers: str = "DEFAULT:@SECLEVEL=0") -> ssl.SSLContext:
    context = _context()
    context.maximum_version = maximum
    context.set_ciphers(ciphers)
    return context


@pytest.mark.parametrize(
    ("server", "context", "message"),
    [
        (
            ssl.TLSVersion.TLSv1_3,
            _limited(ssl.TLSVersion.TLSv1_2),
            "no TLS version in common with the server",
        ),
        # The server's certificate has an EC key: no RSA cipher suite can use it.
        (
            ssl.TLSVersion.TLSv1_2,
            _limited(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES256-GCM-SHA384"),
            "the server refused the handshake (no cipher or key exchange in common?)",
        ),
    ],
)
def test_handshake_refusals_say_why(
    pki: Pki, server: ssl.TLSVersion, context: ssl.SSLContext, message: str
) -> None:
    peer = MemoryTlsPeer(*pki.files["good"], version=server)
    with pytest.raises(TlsHandshakeError) as caught:
        start_tls(peer, server_name="good.test", context=context, timeout=1)
    assert (caught.value.code, str(caught.value)) == ("handshake", message)


def test_a_refused_chain_keeps_openssl_code_and_reason(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["unknown-ca"])
    with pytest.raises(TlsVerifyError) as caught:
        start_tls(
            peer,
            server_name="good.test",
            context=client_context(str(pki.ca_file), verify=True),
            timeout=1,
        )
    assert caught.value.code == "verify"
    assert caught.value.verify_code == 20
    assert caught.value.verify_message == "unable to get local issuer certificate"
    assert str(caught.value) == (
        "the certificate was refused: unable to get local issuer "
        "certificate (OpenSSL verify code 20)"
    )
    assert peer.closed
    assert peer.failed is not None, "the peer was told why (an alert)"


def test_garbage_in_the_session_is_a_protocol_error(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["good"])
    tls = start_tls(peer, server_name="good.test", context=_context(), timeout=1)
    peer.inject(b"\x17\x03\x03\x00\x10not a TLS record")
    with pytest.raises(TlsProtocolError, match=r"^TLS failed during the read \(") as caught:
        tls.recv(100)
    assert caught.value.code == "protocol"


def test_reads_after_the_handshake_report_closed_and_bad_sizes(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["good"])
    tls = start_tls(peer, server_name="good.test", context=_context(), timeout=1)
    with pytest.raises(ValueError, match="bufsize must be positive"):
        tls.recv(0)
    tls.settimeout(0.5)
    peer.close()
    with pytest.raises(TlsClosed, match="the connection failed during the write: Socket is closed"):
        tls.sendall(b"x")

"""observe: what happened at each stage, never an exception (no server: scripted and
in-memory peers)."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from readiness.net.certificates import Failure, PreambleError, observe, parse_certificate
from readiness.net.streams import Stream
from readiness.net.tls import TlsStream
from readiness.net.vantage import VantageError

from .certs import build
from .conftest import SERVER_NAME, Pki
from .fakes import MemoryTlsPeer, ScriptedStream


class Connector:
    """A connect() that hands out the given streams (or raises) and counts calls."""

    def __init__(self, *outcomes: Stream | OSError) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> Stream:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, OSError):
            raise outcome
        return outcome


def peers(pki: Pki, kind: str, count: int = 2) -> list[Stream]:
    return [MemoryTlsPeer(*pki.files[kind]) for _ in range(count)]


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            "refused",
            "could not connect: Connection refused",
        ),
        (TimeoutError("timed out"), "timeout", "could not connect: timed out"),
        (
            VantageError("vantage point 'jump' (u@jump:22): the jump host refused our login"),
            "vantage",
            "could not connect: vantage point 'jump' (u@jump:22): the jump host refused our login",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            "resolve",
            "could not connect: Name or service not known",
        ),
        (OSError(113, "No route to host"), "unreachable", "could not connect: No route to host"),
    ],
)
def test_connection_failures_are_told_apart(error: OSError, code: str, message: str) -> None:
    seen = observe(Connector(error), server_name=SERVER_NAME, ca_file=None, verify=True, timeout=1)
    assert seen.failure == Failure("connect", code, message)
    assert seen.certificate is None


def _preamble_raising(error: Exception) -> Callable[[Stream], None]:
    def preamble(stream: Stream) -> None:
        stream.sendall(b"EHLO readiness\r\n")
        raise error

    return preamble


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            PreambleError("STARTTLS not offered (EHLO: 250 mail.test)"),
            "preamble",
            "the step before TLS failed: STARTTLS not offered (EHLO: 250 mail.test)",
        ),
        (TimeoutError("timed out"), "timeout", "no answer within 1.5 s before TLS"),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "closed",
            "the connection failed before TLS: Connection reset by peer",
        ),
    ],
)
def test_preamble_failures(error: Exception, code: str, message: str) -> None:
    stream = ScriptedStream()
    seen = observe(
        Connector(stream),
        server_name=SERVER_NAME,
        ca_file=None,
        verify=False,
        timeout=1.5,
        preamble=_preamble_raising(error),
    )
    assert seen.failure == Failure("preamble", code, message)
    assert stream.sent == b"EHLO readiness\r\n" and stream.timeout == 1.5
    assert stream.closed


def test_a_trusted_server(pki: Pki) -> None:
    connect = Connector(*peers(pki, "good", 1))
    ran: list[Stream] = []
    seen = observe(
        connect,
        server_name=SERVER_NAME,
        ca_file=str(pki.ca_file),
        verify=True,
        timeout=1,
        preamble=ran.append,
    )
    assert seen.failure is None and seen.verified is True
    assert seen.certificate == parse_certificate(pki.issued["good"].der)
    assert (seen.version, seen.server_name, seen.ca_file) == (
        "TLSv1.3",
        SERVER_NAME,
        str(pki.ca_file),
    )
    assert connect.calls == 1 and len(ran) == 1


def test_a_refused_chain_is_recorded_and_the_facts_read_without_verification(pki: Pki) -> None:
    connect = Connector(*peers(pki, "unknown-ca"))
    ran: list[Stream] = []
    seen = observe(
        connect,
        server_name=SERVER_NAME,
        ca_file=str(pki.ca_file),
        verify=True,
        timeout=1,
        preamble=ran.append,
    )
    assert (seen.verified, seen.verify_code) == (False, 20)
    assert seen.verify_message == "unable to get local issuer certificate"
    assert seen.certificate == parse_certificate(pki.issued["unknown-ca"].der)
    assert seen.version == "TLSv1.3"
    assert connect.calls == 2 and len(ran) == 2, "a fresh connection and preamble each time"


def test_when_the_second_look_fails_too(pki: Pki) -> None:
    connect = Connector(
        MemoryTlsPeer(*pki.files["self-signed"]), ConnectionRefusedError(111, "Connection refused")
    )
    seen = observe(
        connect, server_name=SERVER_NAME, ca_file=str(pki.ca_file), verify=True, timeout=1
    )
    assert (seen.failure, seen.verified, seen.verify_code) == (None, False, 18)
    assert seen.certificate is None
    assert seen.certificate_error == (
        "the certificate could not be read without verification "
        "either: could not connect: Connection refused"
    )


def test_an_unusable_bundle_still_gives_the_facts(pki: Pki) -> None:
    connect = Connector(*peers(pki, "good", 1))
    seen = observe(
        connect, server_name=SERVER_NAME, ca_file="/nonexistent/ca.pem", verify=True, timeout=1
    )
    assert seen.verified is None
    assert seen.verify_message == (
        "cannot read the CA bundle /nonexistent/ca.pem: No such file or directory"
    )
    assert seen.certificate is not None and connect.calls == 1


def test_without_verification_one_look_is_enough(pki: Pki) -> None:
    connect = Connector(*peers(pki, "self-signed", 1))
    seen = observe(connect, server_name=SERVER_NAME, ca_file=None, verify=False, timeout=1)
    assert (seen.verified, seen.verify_message, connect.calls) == (None, "", 1)
    assert seen.certificate is not None and seen.certificate.self_signed


def test_a_plain_text_server() -> None:
    stream = ScriptedStream(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    seen = observe(Connector(stream), server_name=SERVER_NAME, ca_file=None, verify=True, timeout=1)
    assert seen.failure == Failure(
        "handshake", "handshake", "the server did not answer with TLS (is this a plain-text port?)"
    )
    assert stream.closed


def test_a_replaced_ca_bundle_is_read_again(pki: Pki, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.ca.pem)
    look = functools.partial(
        observe, server_name=SERVER_NAME, ca_file=str(bundle), verify=True, timeout=1
    )
    assert look(Connector(*peers(pki, "good", 1))).verified is True
    bundle.write_bytes(build("Another CA", dns=(), ca=True).pem)
    os.utime(bundle, ns=(1, 1))  # a new version, whatever the clock's resolution
    assert look(Connector(*peers(pki, "good"))).verified is False


def test_keep_receives_the_verified_session_open(pki: Pki) -> None:
    peer = MemoryTlsPeer(*pki.files["good"])
    kept: list[TlsStream] = []
    seen = observe(
        Connector(peer),
        server_name=SERVER_NAME,
        ca_file=str(pki.ca_file),
        verify=True,
        timeout=1,
        keep=kept.append,
    )
    assert seen.verified is True and len(kept) == 1 and not peer.closed
    kept[0].sendall(b"hello")  # the caller goes on over the same session: no new handshake
    assert kept[0].recv(100) == b"HELLO"
    kept[0].close()
    assert peer.closed


def test_keep_receives_the_unverified_second_look(pki: Pki) -> None:
    first, second = peers(pki, "unknown-ca")
    kept: list[TlsStream] = []
    seen = observe(
        Connector(first, second),
        server_name=SERVER_NAME,
        ca_file=str(pki.ca_file),
        verify=True,
        timeout=1,
        keep=kept.append,
    )
    assert seen.verified is False and seen.certificate is not None
    assert len(kept) == 1 and kept[0]._stream is second and not second.closed  # type: ignore[attr-defined]
    kept[0].close()


def test_keep_is_not_called_without_a_session(pki: Pki) -> None:
    kept: list[TlsStream] = []
    seen = observe(
        Connector(ConnectionRefusedError(111, "Connection refused")),
        server_name=SERVER_NAME,
        ca_file=None,
        verify=False,
        timeout=1,
        keep=kept.append,
    )
    assert seen.failure is not None and kept == []

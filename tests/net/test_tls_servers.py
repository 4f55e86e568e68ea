"""Real servers, looked at from the sweeping machine and through a real OpenSSH jump host
(a paramiko direct-tcpip channel, not a socket): the same judgements either way.

Servers (tests/net/conftest.py): openssl s_server with a good, an expired, a wrong-name,
an unknown-CA and a self-signed certificate, and one speaking only TLS 1.1; nginx
speaking plain HTTP; a listener that never answers; a closed port.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import paramiko
import pytest

from readiness.net.certificates import (
    CHAIN,
    CHECKS,
    HANDSHAKE,
    NAME,
    PROTOCOL,
    VALID,
    CertFinding,
    TlsObservation,
    judge,
    observe,
    parse_certificate,
)
from readiness.net.tls import client_context, start_tls
from readiness.net.vantage import LocalVantage, Vantage

from .conftest import SERVER_NAME, Pki, Servers

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
NOW = dt.datetime.now(dt.UTC)
GO_LIVE = NOW + dt.timedelta(days=30)
NO_SESSION = dict.fromkeys(CHECKS[1:], "skip")

# kind -> (statuses other than pass, what the observation records)
EXPECTED: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "good": ({}, {"verified": True, "version": "TLSv1.3"}),
    "expired": ({VALID: "fail"}, {"verified": False, "verify_code": 10}),
    "wrong-name": ({NAME: "fail"}, {"verified": True}),
    "unknown-ca": ({CHAIN: "fail"}, {"verified": False, "verify_code": 20}),
    "self-signed": ({CHAIN: "fail"}, {"verified": False, "verify_code": 18}),
    "tls1.1": ({PROTOCOL: "fail"}, {"verified": True, "version": "TLSv1.1"}),
    "plain": ({HANDSHAKE: "fail", **NO_SESSION}, {"failure": ("handshake", "handshake")}),
    "silent": ({HANDSHAKE: "error", **NO_SESSION}, {"failure": ("handshake", "timeout")}),
    "closed": ({HANDSHAKE: "error", **NO_SESSION}, {"failure": ("connect", "refused")}),
}


@pytest.fixture(params=["local", "ssh"])
def via(request: pytest.FixtureRequest) -> Vantage:
    """Where the probe runs from: this machine, or the jump host."""
    if request.param == "local":
        return LocalVantage()
    jump: Vantage = request.getfixturevalue("jump_host")
    return jump


def look(
    via: Vantage, servers: Servers, kind: str, ca_file: str, verify: bool = True
) -> tuple[TlsObservation, dict[str, CertFinding]]:
    port = servers.ports[kind]
    seen = observe(
        lambda: via.connect(servers.address, port, TIMEOUT),
        server_name=SERVER_NAME,
        ca_file=ca_file,
        verify=verify,
        timeout=TIMEOUT,
    )
    findings = judge(
        seen, host=SERVER_NAME, go_live=GO_LIVE, now=NOW, min_days=14, warn_days=30, verify=verify
    )
    return seen, {f.check: f for f in findings}


@pytest.mark.parametrize("kind", EXPECTED)
def test_each_kind_of_server(via: Vantage, tls_servers: Servers, pki: Pki, kind: str) -> None:
    not_passing, recorded = EXPECTED[kind]
    seen, by = look(via, tls_servers, kind, str(pki.ca_file))
    assert {c: str(f.status) for c, f in by.items()} == {
        **dict.fromkeys(CHECKS, "pass"),
        **not_passing,
    }
    failure = (seen.failure.stage, seen.failure.code) if seen.failure else None
    assert failure == recorded.get("failure")
    for field in ("verified", "verify_code", "version"):
        if field in recorded:
            assert getattr(seen, field) == recorded[field], field
    if failure is None:  # the facts are the server's certificate, even when it was refused
        certificate = pki.issued["good" if kind == "tls1.1" else kind]
        assert seen.certificate == parse_certificate(certificate.der)


def test_what_each_fault_says(via: Vantage, tls_servers: Servers, pki: Pki) -> None:
    ca_file = str(pki.ca_file)
    expired = look(via, tls_servers, "expired", ca_file)[1]
    assert expired[VALID].details["reason"] == "expired"
    assert "its own dates are judged by tls.certificate-valid" in expired[CHAIN].summary
    wrong = look(via, tls_servers, "wrong-name", ca_file)[1][NAME]
    assert wrong.summary == f"the certificate is for other.test, not {SERVER_NAME}"
    unknown = look(via, tls_servers, "unknown-ca", ca_file)[1][CHAIN]
    assert (unknown.details["reason"], unknown.observed) == (
        "unknown-ca",
        "unable to get local issuer certificate (verify code 20)",
    )
    plain = look(via, tls_servers, "plain", ca_file)[1][HANDSHAKE]
    assert plain.observed == "the server did not answer with TLS (is this a plain-text port?)"
    silent = look(via, tls_servers, "silent", ca_file)[1][HANDSHAKE]
    assert silent.observed == f"no answer within {TIMEOUT:g} s during the TLS handshake"
    assert "STARTTLS" in silent.hint


def test_an_expired_certificate_fails_without_verification(
    via: Vantage, tls_servers: Servers, pki: Pki
) -> None:
    seen, by = look(via, tls_servers, "expired", str(pki.ca_file), verify=False)
    assert (seen.verified, by[VALID].status, by[CHAIN].status) == (None, "fail", "skip")


def test_a_protocol_runs_over_the_tls_stream(via: Vantage, tls_servers: Servers, pki: Pki) -> None:
    stream = via.connect(tls_servers.address, tls_servers.ports["good"], TIMEOUT)
    expected_kind = socket.socket if isinstance(via, LocalVantage) else paramiko.Channel
    assert isinstance(stream, expected_kind)
    tls = start_tls(
        stream,
        server_name=SERVER_NAME,
        context=client_context(str(pki.ca_file), verify=True),
        timeout=TIMEOUT,
    )
    try:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = bytearray()
        while chunk := tls.recv(4096):
            reply += chunk
    finally:
        tls.close()
    assert reply.startswith(b"HTTP/1.0 200 ok\r\n")
    assert b"s_server" in reply

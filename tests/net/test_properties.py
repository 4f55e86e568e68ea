"""Property-based tests: random DER, damaged certificates, random certificate facts and
random server bytes give clear errors or well-formed findings, never a crash."""

from __future__ import annotations

import datetime as dt
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.net.certificates import (
    CHECKS,
    CertificateError,
    CertificateFacts,
    Failure,
    TlsObservation,
    judge,
    observe,
    parse_certificate,
)
from readiness.net.tls import TlsError, client_context, start_tls
from readiness.results import Status

from .certs import build, make_ca, rsa_key, sha1_signed
from .fakes import ScriptedStream

SETTINGS = settings(
    database=None, deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
_CA = make_ca("Property CA")
_RSA_CA = build("RSA CA", key=rsa_key(2048), ca=True)
SAMPLES = [
    build("app.test", issuer=_CA, dns=("app.test", "*.app.test"), ips=("10.0.0.1", "::1")).der,
    build("rsa.test", issuer=_RSA_CA, key=rsa_key(1024)).der,
    build("ed.test", key=ed25519.Ed25519PrivateKey.generate()).der,
    build("legacy.test", dns=()).der,
    sha1_signed("old.test", _RSA_CA),
]
CONTEXT = client_context(None, verify=False)


def judge_all(observation: TlsObservation, host: str = "app.test") -> None:
    findings = judge(
        observation, host=host, go_live=GO_LIVE, now=NOW, min_days=14, warn_days=30, verify=True
    )
    assert [f.check for f in findings] == list(CHECKS)
    for finding in findings:
        assert finding.status in set(Status)
        assert json.loads(json.dumps(finding.details)) == finding.details


def parse_then_judge(data: bytes) -> None:
    try:
        facts = parse_certificate(data)
    except CertificateError as exc:
        assert str(exc).startswith("not a readable X.509 certificate: ")
        return
    judge_all(TlsObservation("app.test", None, verified=True, certificate=facts, version="TLSv1.3"))


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    parse_then_judge(data)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real certificate with a few bytes changed, and perhaps cut short."""
    der = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        der[draw(st.integers(0, len(der) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(der)))
    return bytes(der[:cut] if draw(st.booleans()) else der)


@SETTINGS
@given(damaged())
def test_damaged_certificates(data: bytes) -> None:
    parse_then_judge(data)


_moments = st.datetimes(
    min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(9000, 1, 1), timezones=st.just(dt.UTC)
)
_names = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"(\*\.)?([a-z0-9-]{1,10}\.){0,3}[a-z]{2,5}", fullmatch=True),
)
_facts = st.builds(
    CertificateFacts,
    subject=st.text(max_size=30),
    common_names=st.lists(_names, max_size=2).map(tuple),
    dns_names=st.lists(_names, max_size=3).map(tuple),
    ip_addresses=st.lists(st.ip_addresses().map(str), max_size=2).map(tuple),
    issuer=st.text(max_size=30),
    serial=st.text(max_size=10),
    not_before=_moments,
    not_after=_moments,
    key_type=st.sampled_from(["RSA", "EC", "DSA", "Ed25519", "Ed448", "unknown"]),
    key_bits=st.none() | st.integers(0, 16384),
    signature_hash=st.sampled_from([None, "sha256", "sha1", "md5", "unknown"]),
    self_signed=st.booleans(),
    sha256=st.text(max_size=10),
)
_failures = st.none() | st.builds(
    Failure,
    stage=st.sampled_from(["connect", "preamble", "handshake"]),
    code=st.sampled_from(
        [
            "refused",
            "timeout",
            "unreachable",
            "resolve",
            "vantage",
            "preamble",
            "closed",
            "handshake",
            "protocol",
        ]
    ),
    message=st.text(max_size=30),
)


@SETTINGS
@given(
    facts=st.none() | _facts,
    failure=_failures,
    verified=st.sampled_from([None, True, False]),
    verify_code=st.none() | st.integers(0, 100),
    version=st.sampled_from([None, "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "SSLv3"]),
    host=st.one_of(_names, st.ip_addresses().map(str)),
)
def test_random_observations(
    facts: CertificateFacts | None,
    failure: Failure | None,
    verified: bool | None,
    verify_code: int | None,
    version: str | None,
    host: str,
) -> None:
    judge_all(
        TlsObservation(
            "app.test",
            None,
            failure=failure,
            verified=verified,
            verify_code=verify_code,
            verify_message="m",
            certificate=facts,
            certificate_error="" if facts else "none",
            version=version,
        ),
        host=host,
    )


def _record(body: bytes) -> bytes:
    """A TLS handshake record header in front of ``body``."""
    return b"\x16\x03\x03" + struct.pack("!H", len(body)) + body


_server_bytes = st.lists(
    st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(_record)), max_size=6
)


@SETTINGS
@given(_server_bytes)
def test_random_server_bytes_give_tls_errors_only(chunks: list[bytes]) -> None:
    stream = ScriptedStream(*chunks)
    with pytest.raises(TlsError):
        start_tls(stream, server_name="app.test", context=CONTEXT, timeout=1)
    assert stream.closed


@SETTINGS
@given(_server_bytes)
def test_random_server_bytes_are_observed_not_raised(chunks: list[bytes]) -> None:
    seen = observe(
        lambda: ScriptedStream(*chunks),
        server_name="app.test",
        ca_file=None,
        verify=True,
        timeout=1,
    )
    assert seen.failure is not None and seen.failure.stage == "handshake"
    assert seen.failure.code in {"handshake", "closed"}
    judge_all(seen)

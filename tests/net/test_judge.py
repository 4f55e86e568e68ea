"""judge: one finding per property, from observations built here (no network).

Time is injected: "today" is NOW and go-live is GO_LIVE, whatever the real date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from readiness.net.certificates import (
    CHAIN,
    CHECKS,
    HANDSHAKE,
    KEY,
    NAME,
    PROTOCOL,
    VALID,
    CertFinding,
    CertificateFacts,
    Failure,
    TlsObservation,
    judge,
    parse_certificate,
)
from readiness.results import Status

from .certs import build, make_ca, rsa_key, sha1_signed

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CA = make_ca("Judge Test CA")
HOST = "app.test"


def facts(
    subject: str = HOST,
    *,
    not_before: dt.datetime = NOW - 30 * DAY,
    not_after: dt.datetime = GO_LIVE + 365 * DAY,
    **kwargs: Any,
) -> CertificateFacts:
    return parse_certificate(
        build(
            subject,
            issuer=kwargs.pop("issuer", CA),
            not_before=not_before,
            not_after=not_after,
            **kwargs,
        ).der
    )


def seen(cert: CertificateFacts | None = None, **fields: Any) -> TlsObservation:
    base = TlsObservation(
        HOST,
        "/etc/org-ca.pem",
        verified=True,
        certificate=cert or facts(),
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
    )
    return dataclasses.replace(base, **fields)


def judged(
    observation: TlsObservation,
    *,
    host: str = HOST,
    go_live: dt.datetime = GO_LIVE,
    now: dt.datetime = NOW,
    min_days: int = 14,
    warn_days: int = 30,
    verify: bool = True,
) -> dict[str, CertFinding]:
    findings = judge(
        observation,
        host=host,
        go_live=go_live,
        now=now,
        min_days=min_days,
        warn_days=warn_days,
        verify=verify,
    )
    assert [f.check for f in findings] == list(CHECKS), "one finding per property, in order"
    for finding in findings:
        assert isinstance(finding.status, Status)
        # JSON-native: a tuple would come back as a list and compare unequal.
        assert json.loads(json.dumps(finding.details)) == finding.details
        assert finding.summary
    return {f.check: f for f in findings}


def statuses(by: dict[str, CertFinding]) -> dict[str, str]:
    return {check: str(f.status) for check, f in by.items()}


ALL_PASS = dict.fromkeys(CHECKS, "pass")


def test_a_good_certificate_passes_every_property() -> None:
    by = judged(seen())
    assert statuses(by) == ALL_PASS
    assert by[HANDSHAKE].observed == "TLSv1.3 (TLS_AES_256_GCM_SHA384)"
    assert by[CHAIN].summary == "the certificate chains to a CA in /etc/org-ca.pem"
    assert by[NAME].details["matched"] == HOST
    assert by[VALID].summary == "the certificate is valid until 2028-01-04, 365 days after go-live"
    assert by[VALID].details["days_left"] == 365
    assert by[KEY].observed == "EC 256 bits, signed with sha256"


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    ("not_before", "not_after", "status", "reason", "summary"),
    [
        (NOW - 90 * DAY, NOW - DAY, "fail", "expired", "the certificate expired on 2026-10-31"),
        (
            NOW - 30 * DAY,
            GO_LIVE - DAY,
            "fail",
            "expires",
            "the certificate expires on 2027-01-03, before go-live (2027-01-04)",
        ),
        (
            GO_LIVE + DAY,
            GO_LIVE + 400 * DAY,
            "fail",
            "not-yet-valid",
            "the certificate is not valid until 2027-01-05, after go-live (2027-01-04)",
        ),
        (
            NOW - 30 * DAY,
            GO_LIVE + 5 * DAY,
            "fail",
            "too-few-days",
            "the certificate expires 5 days after go-live (on 2027-01-09); at least 14 are "
            "required",
        ),
        (
            NOW - 30 * DAY,
            GO_LIVE + 20 * DAY,
            "warn",
            "expiring",
            "the certificate expires 20 days after go-live (on 2027-01-24)",
        ),
        (
            NOW - 30 * DAY,
            GO_LIVE + 14 * DAY,
            "warn",
            "expiring",
            "the certificate expires 14 days after go-live (on 2027-01-18)",
        ),
        (
            NOW - 30 * DAY,
            GO_LIVE + 30 * DAY,
            "pass",
            None,
            "the certificate is valid until 2027-02-03, 30 days after go-live",
        ),
        (
            NOW + 10 * DAY,
            GO_LIVE + 400 * DAY,
            "warn",
            "not-yet-valid-today",
            "the certificate is valid at go-live but not yet today (from 2026-11-11): clients "
            "refuse it until then",
        ),
    ],
)
def test_validity_at_go_live(
    not_before: dt.datetime, not_after: dt.datetime, status: str, reason: str | None, summary: str
) -> None:
    finding = judged(seen(facts(not_before=not_before, not_after=not_after)))[VALID]
    assert (finding.status, finding.details.get("reason"), finding.summary) == (
        status,
        reason,
        summary,
    )
    if status != "pass":
        assert finding.hint


def test_an_expired_certificate_fails_even_when_verification_is_off() -> None:
    expired = facts(not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    by = judged(seen(expired, verified=None), verify=False)
    assert by[VALID].status is Status.FAIL and by[VALID].details["reason"] == "expired"
    assert by[CHAIN].status is Status.SKIP
    assert by[CHAIN].summary == "not checked: the inventory turns certificate verification off"


def test_what_if_go_live_had_been_before_the_certificate_expired() -> None:
    # Valid on that go-live day, but expired by now: still a failure.
    cert = facts(not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    finding = judged(seen(cert), go_live=NOW - 60 * DAY, min_days=0, warn_days=0)[VALID]
    assert finding.status is Status.FAIL and finding.details["reason"] == "expired"


def test_time_must_be_timezone_aware_and_days_not_negative() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        judged(seen(), go_live=dt.datetime(2027, 1, 4))  # naive on purpose
    with pytest.raises(ValueError, match="cannot be negative"):
        judged(seen(), min_days=-1)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("dns", "ips", "host", "status", "matched"),
    [
        ((HOST,), (), "APP.test.", "pass", HOST),
        (("*.app.test",), (), "www.app.test", "pass", "*.app.test"),
        (("*.app.test",), (), "a.b.app.test", "fail", None),  # one label only
        (("*.app.test",), (), "app.test", "fail", None),  # not the bare domain
        (("*.test",), (), "app.test", "fail", None),  # at least two labels after the wildcard
        (("w*.app.test",), (), "www.app.test", "fail", None),  # no partial wildcards
        (("app.*.test",), (), "app.x.test", "fail", None),  # left-most label only
        (("xn--bcher-kva.test",), (), "bücher.test", "pass", "xn--bcher-kva.test"),
        ((), ("10.0.0.5",), "10.0.0.5", "pass", "10.0.0.5"),
        ((), ("10.0.0.5",), "10.0.0.6", "fail", None),
        (("10.0.0.5",), (), "10.0.0.5", "fail", None),  # an address matches IP SANs only
        ((), ("::1",), "0:0::1", "pass", "::1"),
        (("other.test",), (), HOST, "fail", None),  # CN=app.test is ignored beside DNS SANs
    ],
)
def test_names_per_rfc_6125(
    dns: tuple[str, ...], ips: tuple[str, ...], host: str, status: str, matched: str | None
) -> None:
    finding = judged(seen(facts(dns=dns, ips=ips)), host=host)[NAME]
    assert (finding.status, finding.details.get("matched")) == (status, matched)


def test_a_wrong_name_shows_the_names_presented() -> None:
    finding = judged(seen(facts("other.test", dns=("other.test", "www.other.test"))))[NAME]
    assert finding.status is Status.FAIL
    assert finding.summary == "the certificate is for other.test, www.other.test, not app.test"
    assert finding.observed == "other.test, www.other.test"
    assert finding.details["dns_names"] == ["other.test", "www.other.test"]
    assert "app.test as a subject alternative name" in finding.hint


def test_without_a_san_the_common_name_counts_with_a_warning() -> None:
    legacy = facts("legacy.test", dns=())
    warned = judged(seen(legacy), host="legacy.test")[NAME]
    assert warned.status is Status.WARN and warned.details["matched"] == "legacy.test"
    assert "browsers ignore it" in warned.summary
    wrong = judged(seen(legacy), host="app.test")[NAME]
    assert wrong.status is Status.FAIL and wrong.observed == "legacy.test"


# --------------------------------------------------------------------------- chain


@pytest.mark.parametrize(
    ("code", "message", "reason", "meaning"),
    [
        (
            20,
            "unable to get local issuer certificate",
            "unknown-ca",
            "its issuer is not in the CA bundle, or the server does not send the intermediate "
            "certificates",
        ),
        (18, "self-signed certificate", "self-signed", "the certificate is self-signed"),
        (
            19,
            "self-signed certificate in certificate chain",
            "unknown-ca",
            "its issuer is not in the CA bundle, or the server does not send the intermediate "
            "certificates",
        ),
        (2, "unable to get issuer certificate", "incomplete-chain", "the chain is incomplete"),
        (10, "certificate has expired", "dates", "a certificate in the chain has expired"),
        (99, "something new", "untrusted", "the chain is not trusted"),
    ],
)
def test_a_refused_chain_says_why(code: int, message: str, reason: str, meaning: str) -> None:
    by = judged(seen(verified=False, verify_code=code, verify_message=message))
    chain = by[CHAIN]
    assert chain.status is Status.FAIL
    assert chain.summary == f"the certificate is not trusted: {meaning}"
    assert chain.observed == f"{message} (verify code {code})"
    assert chain.details["reason"] == reason and chain.details["verify_code"] == code
    assert chain.hint
    assert statuses(by) == {**ALL_PASS, CHAIN: "fail"}, "each fault once"


def test_an_expired_server_certificate_is_one_fault_not_two() -> None:
    expired = facts(not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    by = judged(
        seen(expired, verified=False, verify_code=10, verify_message="certificate has expired")
    )
    assert statuses(by) == {**ALL_PASS, VALID: "fail"}
    assert "its own dates are judged by tls.certificate-valid" in by[CHAIN].summary


def test_an_unusable_ca_bundle_is_an_error_of_the_chain_only() -> None:
    by = judged(
        seen(
            verified=None,
            verify_message="cannot read the CA bundle /x.pem: No such file or directory",
        )
    )
    assert statuses(by) == {**ALL_PASS, CHAIN: "error"}
    assert by[CHAIN].summary == (
        "could not check the chain: cannot read the CA bundle /x.pem: No such file or directory"
    )


def test_the_system_store_is_named_when_there_is_no_bundle() -> None:
    assert judged(seen(ca_file=None))[CHAIN].expected == "a chain to a CA in the system trust store"


# --------------------------------------------------------------------------- protocol, key


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("TLSv1.3", "pass"),
        ("TLSv1.2", "pass"),
        ("TLSv1.1", "fail"),
        ("TLSv1", "fail"),
        ("SSLv3", "fail"),
    ],
)
def test_protocol(version: str, status: str) -> None:
    finding = judged(seen(version=version))[PROTOCOL]
    assert (finding.status, finding.observed) == (status, version)


def test_weak_keys_and_sha1_signatures_are_warnings() -> None:
    weak = judged(seen(facts(key=rsa_key(1024))))[KEY]
    assert weak.status is Status.WARN
    assert weak.summary == "weak certificate: a 1024-bit RSA key (fewer than 2048 bits)"
    assert weak.details["key_bits"] == 1024
    assert judged(seen(facts(key=rsa_key(2048))))[KEY].status is Status.PASS
    rsa_ca = build("RSA CA", key=rsa_key(2048), ca=True)
    sha1 = judged(seen(parse_certificate(sha1_signed(HOST, rsa_ca)), verified=True))[KEY]
    assert (sha1.status, sha1.summary) == (Status.WARN, "weak certificate: a SHA1 signature")
    # Nobody checks a self-signed certificate's own signature (cryptography cannot verify
    # SHA-1 any more: the names decide that it is self-signed).
    root = parse_certificate(sha1_signed("RSA CA", rsa_ca, own_key=True))
    assert (root.signature_hash, root.self_signed) == ("sha1", True)
    assert judged(seen(root))[KEY].status is Status.PASS


@pytest.mark.parametrize(
    ("changes", "status", "summary"),
    [
        (
            {"key_type": "EC", "key_bits": 192},
            "warn",
            "weak certificate: a 192-bit EC key (fewer than 224 bits)",
        ),
        (
            {"key_type": "DSA", "key_bits": 1024},
            "warn",
            "weak certificate: a 1024-bit DSA key (fewer than 2048 bits)",
        ),
        (
            {"key_type": "unknown", "key_bits": None},
            "warn",
            "weak certificate: a key type this check does not know",
        ),
        (
            {"signature_hash": "unknown"},
            "warn",
            "weak certificate: a signature algorithm this check does not know",
        ),
        (
            {"key_type": "RSA", "key_bits": 1024, "signature_hash": "md5"},
            "warn",
            "weak certificate: a 1024-bit RSA key (fewer than 2048 bits) and a MD5 signature",
        ),
        # Nobody checks a self-signed certificate's own signature.
        ({"signature_hash": "sha1", "self_signed": True}, "pass", None),
        (
            {"key_type": "Ed25519", "key_bits": 256, "signature_hash": None},
            "pass",
            "strong enough: Ed25519 256 bits, signed with EdDSA",
        ),
    ],
)
def test_key_rules(changes: dict[str, Any], status: str, summary: str | None) -> None:
    finding = judged(seen(dataclasses.replace(facts(), **changes)))[KEY]
    assert finding.status == status
    if summary:
        assert finding.summary == summary


# --------------------------------------------------------------------------- no session


@pytest.mark.parametrize(
    ("failure", "status", "hint"),
    [
        (
            Failure("connect", "refused", "could not connect: Connection refused"),
            "error",
            "nothing listens",
        ),
        (Failure("connect", "timeout", "could not connect: timed out"), "error", "no answer"),
        (
            Failure("connect", "unreachable", "could not connect: No route to host"),
            "error",
            "no route",
        ),
        (
            Failure("connect", "resolve", "could not connect: Name or service not known"),
            "error",
            "dns.resolves",
        ),
        (
            Failure("connect", "vantage", "could not connect: vantage point 'jump': ..."),
            "error",
            "vantage point",
        ),
        (
            Failure("handshake", "timeout", "no answer within 2 s during the TLS handshake"),
            "error",
            "STARTTLS",
        ),
        (
            Failure(
                "handshake",
                "handshake",
                "the server did not answer with TLS (is this a plain-text port?)",
            ),
            "fail",
            "serve TLS on this port",
        ),
        (
            Failure(
                "handshake", "closed", "the peer closed the connection during the TLS handshake"
            ),
            "fail",
            "dropped the connection",
        ),
        (
            Failure("preamble", "preamble", "the step before TLS failed: 454 TLS not available"),
            "fail",
            "STARTTLS",
        ),
    ],
)
def test_without_a_session_only_the_handshake_is_judged(
    failure: Failure, status: str, hint: str
) -> None:
    by = judged(TlsObservation(HOST, None, failure=failure))
    handshake = by[HANDSHAKE]
    assert handshake.status == status
    assert handshake.observed == failure.message
    assert failure.message in handshake.summary
    assert hint in handshake.hint
    assert (handshake.details["stage"], handshake.details["code"]) == (failure.stage, failure.code)
    for check in CHECKS[1:]:
        assert by[check].status is Status.SKIP
        assert by[check].summary == "not checked: no TLS session (see tls.handshake)"


def test_a_refused_chain_whose_second_look_failed() -> None:
    observation = TlsObservation(
        HOST,
        "/etc/org-ca.pem",
        verified=False,
        verify_code=20,
        verify_message="unable to get local issuer certificate",
        certificate_error="the certificate could not be read without verification either: "
        "the peer closed the connection during the TLS handshake",
    )
    by = judged(observation)
    assert statuses(by) == {
        HANDSHAKE: "pass",
        CHAIN: "fail",
        NAME: "error",
        VALID: "error",
        PROTOCOL: "error",
        KEY: "error",
    }
    assert by[HANDSHAKE].summary == "TLS was negotiated up to the certificate check"
    assert by[NAME].summary == (
        "no certificate facts: the certificate could not be read "
        "without verification either: the peer closed the "
        "connection during the TLS handshake"
    )


def test_an_unreadable_certificate_leaves_the_protocol_judged() -> None:
    by = judged(seen(certificate=None, certificate_error="not a readable X.509 certificate: ..."))
    assert statuses(by) == {**ALL_PASS, NAME: "error", VALID: "error", KEY: "error"}

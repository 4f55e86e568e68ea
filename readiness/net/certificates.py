"""A server's TLS certificate judged at go-live: one module for every family.

``observe`` opens a stream (from any vantage point), runs the caller's plain-text
preamble (e.g. SMTP ``EHLO`` + ``STARTTLS``), shakes hands with chain verification and,
when the chain is refused, once more without it, so the certificate's facts are known
either way. It never raises for network or TLS trouble: the observation says what
happened. ``judge`` is pure (time is passed in) and gives ONE finding per property, so
a report shows each fault on its own:

    tls.handshake           could we do TLS at all
    tls.certificate-chain   trusted by the CA bundle (unknown CA, self-signed, incomplete)
    tls.certificate-name    the host is among the certificate's names (RFC 6125)
    tls.certificate-valid   valid at go-live, with enough days left after it
    tls.protocol            TLS 1.2 or later
    tls.key                 key size and signature hash

Statuses follow the results' rule: ``fail`` when the server answered wrongly, ``error``
when we could not find out (refused, no answer, unreachable), ``skip`` for properties
that need a handshake that did not happen (``tls.handshake`` carries the cause).

Importing cryptography costs about 0.1 s: families import this module inside ``run``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from readiness.net.streams import Stream
from readiness.net.tls import (
    TlsConfigError,
    TlsError,
    TlsStream,
    TlsVerifyError,
    client_context,
    start_tls,
)
from readiness.net.vantage import VantageError
from readiness.results import Status

__all__ = [
    "CHAIN",
    "CHECKS",
    "HANDSHAKE",
    "KEY",
    "NAME",
    "PROTOCOL",
    "VALID",
    "CertFinding",
    "CertificateError",
    "CertificateFacts",
    "Failure",
    "PreambleError",
    "TlsObservation",
    "judge",
    "observe",
    "parse_certificate",
]

HANDSHAKE = "tls.handshake"
CHAIN = "tls.certificate-chain"
NAME = "tls.certificate-name"
VALID = "tls.certificate-valid"
PROTOCOL = "tls.protocol"
KEY = "tls.key"
CHECKS = (HANDSHAKE, CHAIN, NAME, VALID, PROTOCOL, KEY)


class CertificateError(ValueError):
    """The bytes are not a certificate we can read; the message says what is wrong."""


class PreambleError(Exception):
    """Raised by a preamble when the server refuses the plain-text step before TLS
    (e.g. no STARTTLS offered); the message says what the server answered."""


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a certificate says, parsed with cryptography."""

    subject: str  # RFC 4514
    common_names: tuple[str, ...]
    dns_names: tuple[str, ...]  # subject alternative names
    ip_addresses: tuple[str, ...]  # subject alternative names, canonical text
    issuer: str
    serial: str  # hexadecimal
    not_before: dt.datetime  # UTC
    not_after: dt.datetime  # UTC
    key_type: str  # RSA, EC, DSA, Ed25519, Ed448 or unknown
    key_bits: int | None
    signature_hash: str | None  # sha256, sha1, ...; None for EdDSA; "unknown"
    self_signed: bool
    sha256: str  # fingerprint of the DER

    def identity(self) -> dict[str, Any]:
        """Enough to recognise the certificate in a report."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    """Why no TLS session came about."""

    stage: str  # connect, preamble or handshake
    code: str  # refused, timeout, unreachable, resolve, vantage, preamble, closed or handshake
    message: str


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """What one look at a TLS server found; judged by :func:`judge`."""

    server_name: str | None
    ca_file: str | None
    failure: Failure | None = None  # set when there was no TLS session at all
    verified: bool | None = None  # None: not verified (turned off, or the bundle unusable)
    verify_code: int | None = None  # OpenSSL's X509_V_ERR_* when verification failed
    verify_message: str = ""  # OpenSSL's reason, or why verification was impossible
    certificate: CertificateFacts | None = None
    certificate_error: str = ""  # why there are no facts although TLS worked
    version: str | None = None
    cipher: str | None = None


@dataclass(frozen=True, slots=True)
class CertFinding:
    """One property of one server's TLS, judged: a family turns it into a Result."""

    check: str  # the property id, one of CHECKS
    status: Status
    summary: str
    expected: str
    observed: str
    hint: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # JSON-native values only


# --------------------------------------------------------------------------- parsing


def parse_certificate(der: bytes) -> CertificateFacts:
    """The facts of a DER certificate; CertificateError when it cannot be read."""
    try:
        cert = x509.load_der_x509_certificate(der)
        return _facts(cert)
    # cryptography parses lazily: these come from reading a field, not only from loading.
    except (
        ValueError,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
        UnsupportedAlgorithm,
    ) as exc:
        raise CertificateError(f"not a readable X.509 certificate: {str(exc)[:200]}") from None


def _facts(cert: x509.Certificate) -> CertificateFacts:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ips = (), ()
    try:
        algorithm = cert.signature_hash_algorithm
        signature_hash = algorithm.name if algorithm is not None else None
    except UnsupportedAlgorithm:
        signature_hash = "unknown"
    key_type, key_bits = _key(cert)
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        common_names=tuple(
            _text(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ),
        dns_names=dns_names,
        ip_addresses=ips,
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=signature_hash,
        self_signed=_self_signed(cert),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        return "unknown", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "unknown", None


def _self_signed(cert: x509.Certificate) -> bool:
    """Issued by itself and signed with its own key (name equality when the signature
    cannot be checked)."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass  # e.g. SHA-1, which cryptography no longer verifies: the names decide
    return True


# --------------------------------------------------------------------------- observing


def observe(
    connect: Callable[[], Stream],
    *,
    server_name: str | None,
    ca_file: str | None,
    verify: bool,
    timeout: float,
    preamble: Callable[[Stream], None] | None = None,
    keep: Callable[[TlsStream], None] | None = None,
) -> TlsObservation:
    """Look at the TLS server ``connect`` reaches; never raises for network or TLS trouble.

    ``connect`` opens a fresh stream (it is called again for the unverified second
    look); ``preamble`` runs on it before TLS and raises PreambleError (or OSError) when
    the server refuses. ``keep``, when given, receives the session the facts were read
    from (verified, or the unverified second look) instead of it being closed, so the
    caller goes on over it (HTTP after the look, SMTP after STARTTLS) without another
    handshake; it then owns and closes it.
    """
    seen = TlsObservation(server_name, ca_file)
    if verify:
        try:
            context = _context(ca_file, verify=True)
        except TlsConfigError as exc:
            seen = replace(seen, verify_message=str(exc))
        else:
            try:
                opened = _open(connect, preamble, context, server_name, timeout)
            except TlsVerifyError as exc:
                seen = replace(
                    seen,
                    verified=False,
                    verify_code=exc.verify_code,
                    verify_message=exc.verify_message,
                )
            else:
                if isinstance(opened, Failure):
                    return replace(seen, failure=opened)
                return _session(replace(seen, verified=True), opened, keep)
    opened = _open(connect, preamble, _context(None, verify=False), server_name, timeout)
    if isinstance(opened, TlsStream):
        return _session(seen, opened, keep)
    if seen.verified is False:
        return replace(
            seen,
            certificate_error="the certificate could not be read without "
            f"verification either: {opened.message}",
        )
    return replace(seen, failure=opened)


def _context(ca_file: str | None, *, verify: bool) -> ssl.SSLContext:
    """client_context, made once per version of the CA bundle: loading the system store
    costs about 50 ms of CPU, and a sweep observes many servers against one bundle."""
    stamp = None
    if ca_file is not None:
        with contextlib.suppress(OSError):
            status = os.stat(ca_file)
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
    return _cached_context(ca_file, verify, stamp)


@functools.lru_cache(maxsize=32)
def _cached_context(
    ca_file: str | None, verify: bool, stamp: tuple[int, int, int] | None
) -> ssl.SSLContext:
    """``stamp`` (the bundle's inode, time and size) is only part of the cache key."""
    return client_context(ca_file, verify=verify)


def _open(
    connect: Callable[[], Stream],
    preamble: Callable[[Stream], None] | None,
    context: ssl.SSLContext,
    server_name: str | None,
    timeout: float,
) -> TlsStream | Failure:
    """A TLS session, or why none came about; a TlsVerifyError is raised for the caller."""
    try:
        stream = connect()
    except OSError as exc:
        return Failure("connect", _connect_code(exc), f"could not connect: {_reason(exc)}")
    try:
        stream.settimeout(timeout)
        if preamble is not None:
            preamble(stream)
    except PreambleError as exc:
        stream.close()
        return Failure("preamble", "preamble", f"the step before TLS failed: {exc}")
    except TimeoutError:
        stream.close()
        return Failure("preamble", "timeout", f"no answer within {timeout:g} s before TLS")
    except OSError as exc:
        stream.close()
        return Failure("preamble", "closed", f"the connection failed before TLS: {_reason(exc)}")
    try:
        return start_tls(stream, server_name=server_name, context=context, timeout=timeout)
    except TlsVerifyError:
        raise
    except TlsError as exc:
        return Failure("handshake", exc.code, str(exc))


def _connect_code(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, VantageError):
        return "vantage"
    if isinstance(exc, socket.gaierror):
        return "resolve"
    return "unreachable"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _session(
    seen: TlsObservation, tls: TlsStream, keep: Callable[[TlsStream], None] | None
) -> TlsObservation:
    try:
        der, version, cipher = tls.peer_certificate_der(), tls.version(), tls.cipher()
    finally:
        if keep is None:
            tls.close()
        else:
            keep(tls)
    seen = replace(seen, version=version, cipher=cipher)
    if der is None:
        return replace(seen, certificate_error="the server presented no certificate")
    try:
        return replace(seen, certificate=parse_certificate(der))
    except CertificateError as exc:
        return replace(seen, certificate_error=str(exc))


# --------------------------------------------------------------------------- judging


def judge(
    observation: TlsObservation,
    *,
    host: str,
    go_live: dt.datetime,
    now: dt.datetime,
    min_days: int,
    warn_days: int,
    verify: bool,
) -> list[CertFinding]:
    """One finding per property (in CHECKS order) for ``host`` as its clients name it.

    ``go_live`` and ``now`` (the time of the observation) are timezone-aware. The
    certificate must be valid at go-live with at least ``min_days`` left (else fail);
    fewer than ``warn_days`` left is a warning. With ``verify`` False the chain is not
    judged; everything else is (an expired certificate still fails).
    """
    if go_live.tzinfo is None or now.tzinfo is None:
        raise ValueError("go_live and now must be timezone-aware")
    if min_days < 0 or warn_days < 0:
        raise ValueError("min_days and warn_days cannot be negative")
    handshake = _handshake(observation)
    if observation.failure is not None:
        return [
            handshake,
            *(
                _finding(
                    check, Status.SKIP, "not checked: no TLS session (see tls.handshake)", "", ""
                )
                for check in CHECKS[1:]
            ),
        ]
    cert = observation.certificate
    missing = f"no certificate facts: {observation.certificate_error}"
    return [
        handshake,
        _chain(observation, verify, now),
        _name(cert, host) if cert else _finding(NAME, Status.ERROR, missing, host, ""),
        _valid(cert, go_live, now, min_days, warn_days)
        if cert
        else _finding(VALID, Status.ERROR, missing, "", ""),
        _protocol(observation),
        _key_strength(cert) if cert else _finding(KEY, Status.ERROR, missing, "", ""),
    ]


def _finding(
    check: str,
    status: Status,
    summary: str,
    expected: str,
    observed: str,
    hint: str = "",
    **details: Any,
) -> CertFinding:
    return CertFinding(check, status, summary, expected, observed, hint, details)


# Codes for which the server was never really asked: "we could not find out".
_NOT_ASKED = {"refused", "timeout", "unreachable", "resolve", "vantage"}

_FAILURE_HINTS = {
    "refused": "nothing listens on that port: start the service or correct the port",
    "unreachable": "no route to the server from this vantage point: check routing and firewalls",
    "resolve": "the name does not resolve: see the dns.resolves result",
    "vantage": "the vantage point itself is unusable: see its error",
    "preamble": "the server refused the plain-text step before TLS: enable STARTTLS on it",
    "handshake": "serve TLS on this port (with a certificate), or point the inventory at "
    "the TLS port; if versions or ciphers are the problem, enable TLS 1.2+",
    "closed": "the server dropped the connection: see its log (for TLS: its protocols, "
    "ciphers and certificate for this name)",
}


def _handshake(o: TlsObservation) -> CertFinding:
    expected = "a TLS session"
    f = o.failure
    if f is None:
        if o.version is None:  # the chain was refused, and the second look failed
            summary = observed = "TLS was negotiated up to the certificate check"
        else:
            observed = f"{o.version} ({o.cipher})"
            summary = f"TLS handshake completed: {observed}"
        return _finding(
            HANDSHAKE,
            Status.PASS,
            summary,
            expected,
            observed,
            version=o.version,
            cipher=o.cipher,
            server_name=o.server_name,
        )
    if f.code == "timeout":
        hint = (
            "the server accepted the connection but never answered TLS: is TLS on this "
            "port, or does it expect a plain-text start (STARTTLS)?"
            if f.stage == "handshake"
            else "no answer: check that the service runs and that firewalls let it through"
        )
    else:
        hint = _FAILURE_HINTS.get(f.code, "")
    status = Status.ERROR if f.code in _NOT_ASKED else Status.FAIL
    summary = (
        f"could not check TLS: {f.message}"
        if status is Status.ERROR
        else f"no TLS session: {f.message}"
    )
    return _finding(
        HANDSHAKE,
        status,
        summary,
        expected,
        f.message,
        hint,
        stage=f.stage,
        code=f.code,
        server_name=o.server_name,
    )


# OpenSSL X509_V_ERR_* codes: (reason, what it means, how to fix).
_UNKNOWN_CA = (
    "unknown-ca",
    "its issuer is not in the CA bundle, or the server does not send the intermediate certificates",
    "issue the certificate from a CA in the bundle, or configure the server to send "
    "its full chain (certificate, then intermediates)",
)
_VERIFY_REASONS = {
    2: (
        "incomplete-chain",
        "the chain is incomplete",
        "configure the server to send its intermediate certificates",
    ),
    7: ("bad-signature", "a signature in the chain does not verify", "reissue the certificate"),
    9: (
        "dates",
        "a certificate in the chain is not valid yet",
        "replace the intermediate certificates the server sends",
    ),
    10: (
        "dates",
        "a certificate in the chain has expired",
        "replace the intermediate certificates the server sends",
    ),
    18: (
        "self-signed",
        "the certificate is self-signed",
        "issue the certificate from the organisation's CA",
    ),
    19: _UNKNOWN_CA,
    20: _UNKNOWN_CA,
    21: _UNKNOWN_CA,
    24: (
        "invalid-ca",
        "an issuer in the chain is not a CA certificate",
        "configure the server with the right intermediate certificates",
    ),
    26: (
        "wrong-purpose",
        "the certificate is not for TLS servers (extended key usage)",
        "reissue it with the serverAuth extended key usage",
    ),
}


def _chain(o: TlsObservation, verify: bool, now: dt.datetime) -> CertFinding:
    bundle = o.ca_file or "the system trust store"
    expected = f"a chain to a CA in {bundle}"
    details: dict[str, Any] = {
        "ca_file": o.ca_file,
        "verified": o.verified,
        "verify_code": o.verify_code,
        "verify_message": o.verify_message,
    }
    if not verify:
        return _finding(
            CHAIN,
            Status.SKIP,
            "not checked: the inventory turns certificate verification off",
            expected,
            "not verified",
            **details,
        )
    if o.verified is None:
        problem = o.verify_message or "no verification was done"
        return _finding(
            CHAIN,
            Status.ERROR,
            f"could not check the chain: {problem}",
            expected,
            problem,
            "make the CA bundle a readable PEM file",
            **details,
        )
    if o.verified:
        return _finding(
            CHAIN,
            Status.PASS,
            f"the certificate chains to a CA in {bundle}",
            expected,
            "trusted",
            **details,
        )
    cert = o.certificate
    if o.verify_code in (9, 10) and cert and not cert.not_before <= now < cert.not_after:
        # OpenSSL checks dates last: the chain itself was trusted; tls.certificate-valid
        # reports the server certificate's dates, so they are not a second fault here.
        return _finding(
            CHAIN,
            Status.PASS,
            f"the certificate chains to a CA in {bundle} (its "
            "own dates are judged by tls.certificate-valid)",
            expected,
            f"trusted apart from the dates: {o.verify_message}",
            **details,
        )
    reason, meaning, hint = _VERIFY_REASONS.get(
        o.verify_code or 0,
        ("untrusted", "the chain is not trusted", "issue the certificate from a CA in the bundle"),
    )
    return _finding(
        CHAIN,
        Status.FAIL,
        f"the certificate is not trusted: {meaning}",
        expected,
        f"{o.verify_message} (verify code {o.verify_code})",
        hint,
        reason=reason,
        **details,
    )


def _name(cert: CertificateFacts, host: str) -> CertFinding:
    presented = [*cert.dns_names, *cert.ip_addresses] or list(cert.common_names)
    details: dict[str, Any] = {
        "host": host,
        "dns_names": list(cert.dns_names),
        "ip_addresses": list(cert.ip_addresses),
        "common_names": list(cert.common_names),
        "certificate": cert.identity(),
    }
    expected = f"{host} among the certificate's names"
    observed = ", ".join(presented) or "no names"
    matched, where = _match(host, cert)
    if where == "san":
        return _finding(
            NAME,
            Status.PASS,
            f"the certificate names {host} ({matched})",
            expected,
            observed,
            matched=matched,
            **details,
        )
    if where == "cn":
        return _finding(
            NAME,
            Status.WARN,
            f"{host} is only the subject's common name: browsers "
            "ignore it and want the subject alternative names",
            expected,
            observed,
            f"reissue the certificate with {host} as a subject alternative name",
            matched=matched,
            **details,
        )
    return _finding(
        NAME,
        Status.FAIL,
        f"the certificate is for {observed}, not {host}",
        expected,
        observed,
        f"reissue the certificate with {host} as a subject "
        "alternative name, or point the inventory at a name it holds",
        **details,
    )


def _match(host: str, cert: CertificateFacts) -> tuple[str | None, str | None]:
    """(the presented name that matches ``host``, "san" or "cn"), or (None, None)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:  # IP addresses match IP subject alternative names only
        return next(((ip, "san") for ip in cert.ip_addresses if ip == str(address)), (None, None))
    wanted = _canonical(host)
    if cert.dns_names:
        return next(((n, "san") for n in cert.dns_names if _dns_match(n, wanted)), (None, None))
    # No DNS name in the SAN: the CN is the name, as OpenSSL sees it.
    return next(((n, "cn") for n in cert.common_names if _dns_match(n, wanted)), (None, None))


def _canonical(name: str) -> str:
    name = name.rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125 section 6.4: exact (case-insensitive), or a wildcard that is the whole
    left-most label, stands for exactly one label and leaves at least two labels."""
    pattern = pattern.rstrip(".").lower()
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[2:]
    if "*" in suffix or "." not in suffix:
        return False
    label, _, rest = host.partition(".")
    return bool(label) and rest == suffix


def _valid(
    cert: CertificateFacts, go_live: dt.datetime, now: dt.datetime, min_days: int, warn_days: int
) -> CertFinding:
    left = cert.not_after - go_live
    days = left.days  # whole days, rounded down
    after, before = f"{cert.not_after:%Y-%m-%d}", f"{cert.not_before:%Y-%m-%d}"
    day = f"{go_live:%Y-%m-%d}"
    expected = f"valid on {day} and for at least {min_days} days after"
    observed = f"valid from {before} to {after}: {days} days left at go-live"
    details: dict[str, Any] = {
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "go_live": go_live.isoformat(),
        "days_left": days,
        "min_days": min_days,
        "warn_days": warn_days,
        "certificate": cert.identity(),
    }
    renew = "renew the certificate and install it before go-live"
    if cert.not_after <= now:
        return _finding(
            VALID,
            Status.FAIL,
            f"the certificate expired on {after}",
            expected,
            observed,
            renew,
            reason="expired",
            **details,
        )
    if cert.not_after <= go_live:
        return _finding(
            VALID,
            Status.FAIL,
            f"the certificate expires on {after}, before go-live ({day})",
            expected,
            observed,
            renew,
            reason="expires",
            **details,
        )
    if cert.not_before > go_live:
        return _finding(
            VALID,
            Status.FAIL,
            f"the certificate is not valid until {before}, after go-live ({day})",
            expected,
            observed,
            "install a certificate valid from before go-live",
            reason="not-yet-valid",
            **details,
        )
    if left < dt.timedelta(days=min_days):
        return _finding(
            VALID,
            Status.FAIL,
            f"the certificate expires {days} days after go-live "
            f"(on {after}); at least {min_days} are required",
            expected,
            observed,
            renew,
            reason="too-few-days",
            **details,
        )
    if left < dt.timedelta(days=warn_days):
        return _finding(
            VALID,
            Status.WARN,
            f"the certificate expires {days} days after go-live (on {after})",
            expected,
            observed,
            "plan its renewal now",
            reason="expiring",
            **details,
        )
    if cert.not_before > now:
        return _finding(
            VALID,
            Status.WARN,
            f"the certificate is valid at go-live but not yet "
            f"today (from {before}): clients refuse it until then",
            expected,
            observed,
            "keep the current certificate until the new one is valid",
            reason="not-yet-valid-today",
            **details,
        )
    return _finding(
        VALID,
        Status.PASS,
        f"the certificate is valid until {after}, {days} days after go-live",
        expected,
        observed,
        **details,
    )


def _protocol(o: TlsObservation) -> CertFinding:
    expected = "TLS 1.2 or later"
    if o.version is None:
        return _finding(
            PROTOCOL, Status.ERROR, f"the protocol is unknown: {o.certificate_error}", expected, ""
        )
    if o.version in ("TLSv1.2", "TLSv1.3"):
        return _finding(
            PROTOCOL,
            Status.PASS,
            f"the server negotiates {o.version}",
            expected,
            o.version,
            version=o.version,
            cipher=o.cipher,
        )
    return _finding(
        PROTOCOL,
        Status.FAIL,
        f"the server negotiates {o.version}, an obsolete protocol (RFC 8996)",
        expected,
        o.version,
        "enable TLS 1.2 and 1.3 on the server and turn older versions off",
        version=o.version,
        cipher=o.cipher,
    )


_WEAK_HASHES = {"md5", "sha1"}


def _key_strength(cert: CertificateFacts) -> CertFinding:
    bits = cert.key_bits or 0
    observed = (
        f"{cert.key_type} {cert.key_bits or '?'} bits, signed with {cert.signature_hash or 'EdDSA'}"
    )
    problems = []
    if cert.key_type in ("RSA", "DSA") and bits < 2048:
        problems.append(f"a {bits}-bit {cert.key_type} key (fewer than 2048 bits)")
    elif cert.key_type == "EC" and bits < 224:
        problems.append(f"a {bits}-bit EC key (fewer than 224 bits)")
    elif cert.key_type == "unknown":
        problems.append("a key type this check does not know")
    if not cert.self_signed:  # nobody checks a self-signed certificate's own signature
        if cert.signature_hash in _WEAK_HASHES:
            problems.append(f"a {(cert.signature_hash or '').upper()} signature")
        elif cert.signature_hash == "unknown":
            problems.append("a signature algorithm this check does not know")
    details: dict[str, Any] = {
        "key_type": cert.key_type,
        "key_bits": cert.key_bits,
        "signature_hash": cert.signature_hash,
        "certificate": cert.identity(),
    }
    expected = "RSA of 2048+ bits, EC of 224+ bits or EdDSA; a SHA-2 signature"
    if problems:
        return _finding(
            KEY,
            Status.WARN,
            f"weak certificate: {' and '.join(problems)}",
            expected,
            observed,
            "reissue the certificate with a 2048-bit RSA or a P-256 key, signed with SHA-256",
            **details,
        )
    return _finding(KEY, Status.PASS, f"strong enough: {observed}", expected, observed, **details)

"""parse_certificate: the facts the judge needs, read with cryptography."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from readiness.net.certificates import CertificateError, parse_certificate

from .certs import build, ec_key, make_ca, rsa_key, sha1_signed

START = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
END = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)


def test_facts_of_a_ca_issued_certificate() -> None:
    ca = make_ca("Test CA")
    issued = build(
        "app.test",
        issuer=ca,
        dns=("app.test", "*.app.test"),
        ips=("10.0.0.5", "0:0::1"),
        not_before=START,
        not_after=END,
    )
    facts = parse_certificate(issued.der)
    assert facts.subject == "CN=app.test"
    assert facts.common_names == ("app.test",)
    assert facts.dns_names == ("app.test", "*.app.test")
    assert facts.ip_addresses == ("10.0.0.5", "::1")
    assert facts.issuer == "CN=Test CA"
    assert facts.serial == format(issued.cert.serial_number, "X")
    assert (facts.not_before, facts.not_after) == (START, END)
    assert (facts.key_type, facts.key_bits, facts.signature_hash) == ("EC", 256, "sha256")
    assert facts.self_signed is False
    assert facts.sha256 == issued.cert.fingerprint(hashes.SHA256()).hex()
    assert facts.identity() == {
        "subject": "CN=app.test",
        "issuer": "CN=Test CA",
        "serial": facts.serial,
        "sha256": facts.sha256,
    }


def test_keys_and_signature_hashes() -> None:
    ca = make_ca("Test CA")
    weak = parse_certificate(build("a.test", issuer=ca, key=rsa_key(1024)).der)
    assert (weak.key_type, weak.key_bits) == ("RSA", 1024)
    rsa_ca = build("RSA CA", key=rsa_key(2048), ca=True)
    sha1_der = sha1_signed("a.test", rsa_ca)
    signed = x509.load_der_x509_certificate(sha1_der)
    assert isinstance(rsa_ca.key, rsa.RSAPrivateKey)
    rsa_ca.key.public_key().verify(
        signed.signature,
        signed.tbs_certificate_bytes,
        padding.PKCS1v15(),
        hashes.SHA1(),  # noqa: S303 - proving the certificate really is SHA-1 signed
    )
    sha1 = parse_certificate(sha1_der)
    assert (sha1.signature_hash, sha1.subject, sha1.issuer) == ("sha1", "CN=a.test", "CN=RSA CA")
    eddsa = parse_certificate(build("a.test", key=ed25519.Ed25519PrivateKey.generate()).der)
    assert (eddsa.key_type, eddsa.key_bits, eddsa.signature_hash) == ("Ed25519", 256, None)


def test_self_signed_means_signed_with_its_own_key() -> None:
    assert parse_certificate(build("alone.test").der).self_signed is True
    # Same name as its issuer, but signed by another key: self-issued, not self-signed.
    impostor = build("alone.test", key=ec_key(), ca=True)
    assert parse_certificate(build("alone.test", issuer=impostor).der).self_signed is False


def test_without_subject_alternative_names() -> None:
    facts = parse_certificate(build("legacy.test", dns=()).der)
    assert (facts.dns_names, facts.ip_addresses, facts.common_names) == ((), (), ("legacy.test",))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a certificate",
        build("pem.test").pem,  # PEM where DER is expected
        build("cut.test").der[:-20],  # truncated
    ],
)
def test_unreadable_bytes_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(CertificateError, match=r"^not a readable X\.509 certificate: "):
        parse_certificate(data)

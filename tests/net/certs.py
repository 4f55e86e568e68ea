"""Certificates made in the tests with cryptography: CAs, server certificates of every
kind the judge must tell apart, and PEM files for real servers."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """One key per size per session: RSA generation is slow."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, folder: Path, name: str, *chain: Issued) -> tuple[Path, Path]:
        """``name.pem`` (this certificate, then ``chain``) and ``name.key``."""
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(self.pem + b"".join(c.pem for c in chain))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return cert_path, key_path


def build(
    subject: str,
    *,
    issuer: Issued | None = None,
    dns: tuple[str, ...] | None = None,
    ips: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
    ca: bool = False,
) -> Issued:
    """A certificate with CN ``subject`` signed by ``issuer`` (self-signed without one).

    ``dns`` defaults to ``(subject,)``; ``dns=()`` and no ``ips`` leave out the SAN.
    """
    now = dt.datetime.now(dt.UTC)
    key = key or ec_key()
    names = (subject,) if dns is None else dns
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    signer = issuer.key if issuer else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def make_ca(name: str) -> Issued:
    return build(name, dns=(), ca=True)


_SHA256_RSA = bytes.fromhex("2a864886f70d01010b")  # DER of OID 1.2.840.113549.1.1.11
_SHA1_RSA = bytes.fromhex("2a864886f70d010105")  # 1.2.840.113549.1.1.5, the same length


def sha1_signed(subject: str, issuer: Issued, *, own_key: bool = False) -> bytes:
    """DER of a certificate ``issuer`` (an RSA CA) signed with SHA-1, which cryptography
    no longer signs: its SHA-256 twin with both algorithm OIDs swapped, signed again.
    With ``own_key`` it holds the issuer's key (a self-signed twin of the issuer)."""
    assert isinstance(issuer.key, rsa.RSAPrivateKey)
    twin = build(subject, issuer=issuer, key=issuer.key if own_key else None).cert
    tbs = twin.tbs_certificate_bytes.replace(_SHA256_RSA, _SHA1_RSA)
    signature = issuer.key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    der = twin.public_bytes(serialization.Encoding.DER)
    return (
        der.replace(twin.tbs_certificate_bytes, tbs)
        .replace(_SHA256_RSA, _SHA1_RSA)
        .replace(twin.signature, signature)
    )

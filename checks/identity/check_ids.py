"""The identity family's result ``check`` ids, in one place: the plan, the per-person
assertions and the pilot login all name them, and reports and filters match on them."""

from __future__ import annotations

FAMILY = "identity"
EXISTS = "identity.account-exists"
USABLE = "identity.account-usable"
PASSWORD = "identity.password-valid"  # noqa: S105 - a check id
MAIL = "identity.mail-attribute"
EXTENSION = "identity.extension"
ATTRIBUTES = "identity.attributes"
GROUP = "identity.group-member"
PILOT = "identity.pilot-login"
SRV = "identity.srv"
KDC = "identity.kdc"
SERVICE_BIND = "identity.service-bind"
LOCKOUT_POLICY = "identity.lockout-policy"
# readiness.net.certificates.CHECKS, written out so that loading the family does not
# import cryptography (a test holds them equal).
TLS_CHECKS = (
    "tls.handshake",
    "tls.certificate-chain",
    "tls.certificate-name",
    "tls.certificate-valid",
    "tls.protocol",
    "tls.key",
)

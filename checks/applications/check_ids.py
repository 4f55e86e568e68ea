"""The applications family's check ids: one place for the family and its probes."""

from __future__ import annotations

FAMILY = "applications"
CONNECT = "http.connect"
STATUS = "http.status"
CONTENT = "http.content"
REDIRECT = "http.redirect"
TIME = "http.response-time"
PILOT = "http.pilot-login"
TLS_CHECKS = (
    "tls.handshake",
    "tls.certificate-chain",
    "tls.certificate-name",
    "tls.certificate-valid",
    "tls.protocol",
    "tls.key",
)

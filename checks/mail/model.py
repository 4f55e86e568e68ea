"""The mail family's block on a mail domain (``mail_domains.<domain>.mail``): what the
domain must look like on Day 1. The models are the schema (``readiness schema``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from readiness.inventory.models import OPT_OUT, Hostname, HostPort, Port, Strict

__all__ = ["POLICIES", "Dmarc", "Mail", "Rcpt"]

# DMARC policies from the weakest to the strongest.
POLICIES = ("none", "quarantine", "reject")


class Dmarc(Strict):
    """The DMARC policy expected of the domain (RFC 7489); a missing record is a failure."""

    p: Literal["none", "quarantine", "reject"] = Field(
        "none", description="The weakest policy accepted (none < quarantine < reject)"
    )
    sp: Literal["none", "quarantine", "reject"] | None = Field(
        None, description="The weakest subdomain policy accepted (none: not compared)"
    )
    pct: int = Field(100, ge=0, le=100, description="The smallest pct accepted")
    rua: bool = Field(True, description="Aggregate reports (rua) must be requested")


class Rcpt(Strict):
    """How recipients are verified at the MX (RCPT TO, never DATA)."""

    per_session: int = Field(
        1000, ge=1, le=10000, description="Recipients asked in one SMTP session at most"
    )
    per_transaction: int = Field(
        100, ge=1, le=1000, description="Recipients per MAIL FROM (then RSET)"
    )
    window: int = Field(
        50, ge=1, le=500, description="Commands sent at once when the server offers PIPELINING"
    )
    errors_per_session: int = Field(
        8,
        ge=1,
        le=1000,
        description="Rejections after which a session is reopened (stay under the server's "
        "error limits, e.g. Postfix smtpd_soft_error_limit)",
    )
    sessions: int = Field(4, ge=1, le=32, description="Concurrent sessions per MX host")
    retry_delay: float = Field(
        2.0, ge=0, le=60, description="Seconds before the one retry of a 4xx answer"
    )
    mail_from: str = Field(
        "", description="Envelope sender of the verification (empty: the null sender <>)"
    )


class Mail(Strict):
    """The mail family's block on a mail domain."""

    mx: list[Hostname] = Field(
        default_factory=list, description="MX hosts expected (empty: any MX, but one must exist)"
    )
    smtp_port: Port = Field(25, description="SMTP port of the MX hosts")
    resolvers: list[HostPort] = Field(
        default_factory=list,
        description="Resolvers that must all give the same MX (empty: the sweep's, and "
        "each needing site's from its vantage points)",
    )
    spf_senders: list[str] = Field(
        default_factory=list,
        description="Host names or IP addresses that must get SPF 'pass' for the domain",
    )
    dkim_selectors: list[str] = Field(
        default_factory=list, description="DKIM selectors that must publish a key"
    )
    dmarc: Dmarc | None = Field(None, description="The DMARC policy expected (none: reported)")
    coexistence: bool = Field(
        True, description="Addresses in this domain must keep being accepted (old domains)"
    )
    autodiscover: list[Hostname] = Field(
        default_factory=list, description="Autodiscover/autoconfig names that must resolve"
    )
    starttls: bool = Field(True, description="Every MX must offer STARTTLS")
    verify_tls: bool = Field(
        True,
        description="Verify the MX certificates against the organisation's CA bundle",
        json_schema_extra=OPT_OUT,
    )
    ca_organisation: str | None = Field(
        None, description="Organisation whose CA bundle verifies the MX (default: the domain's)"
    )
    min_days: int = Field(14, ge=0, description="Days a certificate must stay valid after go-live")
    warn_days: int = Field(30, ge=0, description="Fewer days left after go-live: a warning")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per DNS or SMTP exchange")
    rcpt: Rcpt = Field(default_factory=Rcpt)

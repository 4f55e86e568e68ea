"""The ``directories`` inventory section: one object per directory the sweep reads."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from readiness.inventory.models import OPT_OUT, CaBundlePath, Id, SecretRef, Strict

TlsService = Literal["ldaps", "starttls"]
TLS_SERVICES: tuple[TlsService, ...] = ("ldaps", "starttls")


class Directory(Strict):
    kind: Literal["openldap", "ad"] = Field(description="openldap | ad")
    organisations: list[Id] = Field(
        default_factory=list, description="Organisations whose staff it holds (empty: all)"
    )
    staff_tags: list[str] = Field(
        default_factory=list,
        description="If non-empty: only staff carrying one of these tags (e.g. [migrated])",
    )
    url: str = Field(
        pattern=r"^ldaps?://[^/\s]+/?$",
        description="ldaps://host[:port] or ldap://host[:port] (+ start_tls)",
    )
    start_tls: bool = Field(False, description="Upgrade ldap:// with StartTLS before binding")
    base_dn: str
    people_base: str | None = None
    groups_base: str | None = None
    policies_base: str | None = Field(None, description="Where pwdPolicy entries live (openldap)")
    default_policy: str | None = Field(
        None,
        description="DN of the ppolicy_default entry (openldap); the service account "
        "cannot read cn=config. Default: cn=default,<policies_base or ou=policies,base_dn>",
    )
    bind_dn: str = Field(description="Read-only service account")
    bind_password: SecretRef
    match: Literal["username", "upn", "mail", "employee_number"] = Field(
        "username",
        description="How a person is found: username | upn | mail | employee_number (the "
        "HR employee number, staff employee_number or else id)",
    )
    employee_number_attribute: str | None = Field(
        None,
        description="Attribute holding the HR employee number (default: employeeID on AD, "
        "employeeNumber on OpenLDAP)",
    )
    lockout_policy: Literal["read", "none"] = Field(
        "read",
        description="read: the lockout policy is read from the directory, and pilot logins "
        "are refused where it cannot be. none: the inventory declares this server has no "
        "lockout policy (e.g. slapd without a ppolicy default): accounts without a "
        "readable policy are judged as having none, pilot logins proceed, and every "
        "pilot-login result states the declaration (a readable policy still wins)",
    )
    checked_from: Id = Field(
        "central",
        description="Where the directory's service checks (SRV records, LDAPS and StartTLS "
        "certificates, the KDC) run from: central (this machine), sites (each vantage "
        "point of each site whose staff it holds) or a vantage point id. Entries are "
        "always read from this machine",
    )
    dns_domain: str | None = Field(
        None, description="Domain of its SRV records (default: base_dn's dc= parts)"
    )
    srv_records: list[Literal["ldap", "ldaps", "kerberos"]] | None = Field(
        None,
        description="SRV records that must resolve (_ldap._tcp, _ldaps._tcp, "
        "_kerberos._tcp; the Kerberos KDCs they name must answer). Default: ldap and "
        "kerberos on AD, none on OpenLDAP",
    )
    tls_services: list[TlsService] = Field(
        default_factory=lambda: list(TLS_SERVICES),
        description="TLS services that must be offered, their certificates judged at "
        "go-live (LDAPS on the URL's port or 636, StartTLS on the URL's port or 389)",
    )
    certificate_min_days: int = Field(
        0, ge=0, description="Days a directory certificate must stay valid after go-live"
    )
    certificate_warn_days: int = Field(
        30, ge=0, description="Fewer days left after go-live than this: a warning"
    )
    ca_bundle: CaBundlePath | None = Field(
        None, description="CA bundle (PEM); default the organisation's"
    )
    owner: str = ""
    # optional additions
    timeout: float = Field(10.0, gt=0, description="Seconds per LDAP operation")
    page_size: int = Field(500, ge=1, le=10000, description="Paged-search page size")
    required_attributes: list[str] = Field(
        default_factory=list, description="Attributes every person's entry must carry"
    )
    allow_cleartext_bind: bool = Field(
        False,
        description="Allow simple binds without TLS (off: cleartext binds are refused)",
        json_schema_extra=OPT_OUT,
    )
    tls_verify: bool = Field(
        True, description="Verify the server certificate (keep on)", json_schema_extra=OPT_OUT
    )
    attempt_budget: int = Field(
        2, ge=1, description="Failed pilot logins allowed per account per attempt_window_hours"
    )
    attempt_window_hours: float = Field(24.0, gt=0)
    min_headroom: int = Field(
        2, ge=2, description="Bind only when at least this many attempts remain before lockout"
    )
    max_concurrency: int = Field(4, ge=1, description="Concurrent connections to this server")
    check_groups: bool = Field(True, description="Check the groups the roles need here")
    application_groups: dict[Id, list[str]] = Field(
        default_factory=dict,
        description="Application id -> groups granting access to it in this directory",
    )
    people_filter: str | None = Field(None, description="LDAP filter selecting people")

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        """Host and port must parse (``ldaps://h:99999`` or ``ldaps://[::1`` do not)."""
        split_ldap_url(value)
        return value

    @property
    def employee_attribute(self) -> str:
        return self.employee_number_attribute or (
            "employeeID" if self.kind == "ad" else "employeeNumber"
        )

    @property
    def srv_domain(self) -> str:
        """The DNS domain of its SRV records."""
        if self.dns_domain:
            return self.dns_domain
        parts = [p.split("=", 1)[1] for p in self.base_dn.split(",") if "=" in p]
        kinds = [p.split("=", 1)[0].strip().lower() for p in self.base_dn.split(",") if "=" in p]
        return ".".join(v.strip() for k, v in zip(kinds, parts, strict=True) if k == "dc").lower()

    @property
    def srv_wanted(self) -> list[str]:
        if self.srv_records is not None:
            return list(self.srv_records)
        return ["ldap", "kerberos"] if self.kind == "ad" else []


def split_ldap_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an ldap:// or ldaps:// URL; ValueError says what is wrong.
    The one parser of directory URLs: validation and connections both use it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid ldap:// or ldaps:// URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise ValueError("not an ldap:// or ldaps:// URL")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if port == 0:
        raise ValueError("port 0 is not a valid port")
    return scheme, parts.hostname, port or (636 if scheme == "ldaps" else 389)

"""Typed models of what the core owns: the programme, organisations, sites, vantage
points, roles, staff, and the service objects everyone refers to. The models are the
schema.

Service objects (:class:`Application`, :class:`NetworkResource`, :class:`MailDomain`,
:class:`TelephonyEndpoint`) carry only what every family needs (id, name, owner,
organisation, and how to reach them where that is protocol-neutral). A check family
attaches its own typed block to them (``applications.<id>.http``...): see
:mod:`readiness.inventory.extension`. Families declare their own sections and blocks
with the same base class (:class:`Strict`) and the field types below.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import string
import urllib.parse
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from readiness.secrets import REFERENCE_HELP, is_reference

__all__ = [
    "CORE_OBJECT_SECTIONS",
    "OPT_OUT",
    "Application",
    "CaBundlePath",
    "HostPort",
    "Hostname",
    "Id",
    "KnownHostsPath",
    "MailDomain",
    "NeedsDelta",
    "NetworkResource",
    "Organisation",
    "Passwords",
    "Port",
    "Programme",
    "Reads",
    "Role",
    "SecretRef",
    "ServiceObject",
    "Site",
    "Staff",
    "StaffSource",
    "Strict",
    "TelephonyEndpoint",
    "VantagePoint",
    "go_live_moment",
    "split_host_port",
]

# Marks a field that turns a safety default off (``json_schema_extra=OPT_OUT``): every
# report lists such a field when it is not at its default (readiness/inventory/optouts.py).
OPT_OUT: dict[str, Any] = {"opt_out": True}


class Strict(BaseModel):
    """Base of every inventory object: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_reference(value: str) -> str:
    if not is_reference(value):
        # Never echo the value: it may be a real password typed in by mistake.
        raise ValueError(
            f"this field holds a secret, so it must not be written literally; {REFERENCE_HELP}"
        )
    return value


@dataclass(frozen=True)
class Reads:
    """Marks a field naming something the sweep reads on this machine: a secret, a CA
    bundle, a known_hosts file. The pre-flight (``readiness validate``, ``sweep
    --dry-run`` and every sweep, :mod:`readiness.inventory.preflight`) checks each one
    it finds, in the core's sections, families' blocks and families' sections alike."""

    what: str  # in words: "CA bundle", "known_hosts file"
    kind: Literal["secret", "ca-bundle", "file"] = "file"


SecretRef = Annotated[
    str,
    Reads("secret", "secret"),
    AfterValidator(_secret_reference),
    Field(
        description="A secret reference: env:NAME, file:PATH or keyring:SERVICE/USERNAME",
        # In the schema only: validation goes through _secret_reference for a clearer message.
        json_schema_extra={"pattern": r"^(env|file|keyring):.+$"},
    ),
]


CaBundlePath = Annotated[
    str,
    Reads("CA bundle", "ca-bundle"),
    Field(description="CA bundle (PEM) path, relative to the file it is written in"),
]
KnownHostsPath = Annotated[
    str,
    Reads("known_hosts file"),
    Field(description="known_hosts file, relative to the file it is written in"),
]


def split_host_port(spec: str, default_port: int = 53) -> tuple[str, int]:
    """``host``, ``host:port``, ``v6`` or ``[v6]:port`` -> (host, port); ValueError says
    what is wrong (``ns1:abc``, ``1.2.3.4:99999``)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{spec!r} is not [IPv6]:port")
        port_text = rest[1:]
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:
        host, port_text = spec, ""
    if not host:
        raise ValueError(f"{spec!r} names no host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} of {spec!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:-]+$")]
HostPort = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_.:\[\]-]+$", description="host, host:port or [v6]:port"),
    AfterValidator(_host_port),
]
Port = Annotated[int, Field(ge=1, le=65535)]


GO_LIVE_HELP = (
    "a date, YYYY-MM-DD (the start of that day, UTC), e.g. 2027-01-04, or a date-time with "
    "a time zone, e.g. 2027-01-04T07:00+00:00, 2027-01-04T07:00Z or "
    "'2027-01-04T07:00 Europe/London'"
)


def go_live_moment(value: Any) -> dt.datetime:
    """The go-live moment as an aware date-time: a date is the start of that day (UTC);
    a date-time needs its time zone (an offset, ``Z`` or an IANA name after a space), as
    a time without one would be read in the zone of whatever machine sweeps."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone; give {GO_LIVE_HELP}")
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.UTC)
    if not isinstance(value, str):
        raise ValueError(f"go-live must be {GO_LIVE_HELP}")
    text = value.strip()
    try:
        if len(text) == 10:
            return go_live_moment(dt.date.fromisoformat(text))
        return go_live_moment(dt.datetime.fromisoformat(text))
    except ValueError as exc:
        if "time zone" in str(exc):
            raise
    when, _, zone = text.rpartition(" ")
    try:
        moment = dt.datetime.fromisoformat(when)
        tz = zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ValueError(f"{text!r} is not {GO_LIVE_HELP}") from None
    if moment.tzinfo is not None:
        raise ValueError(f"{text!r} gives both an offset and a time zone name") from None
    return moment.replace(tzinfo=tz)


GoLive = Annotated[
    dt.datetime,
    BeforeValidator(go_live_moment),
    WithJsonSchema(
        {
            "type": "string",
            "description": f"Go-live: {GO_LIVE_HELP}",
            "examples": ["2027-01-04", "2027-01-04T07:00 Europe/London"],
        }
    ),
]


class Passwords(Strict):
    """How the programme judges passwords at go-live (every family reading password
    state follows it)."""

    must_change_blocks: bool = Field(
        False,
        description="true: a password that must be changed at first login makes the person "
        "not ready (where applications log in with plain binds: AD refuses them with data "
        "773, ppolicy restricts the session to a password change). Either way these people "
        "are listed apart (result code must-change)",
    )
    expiring_before_go_live: Literal["warn", "fail"] = Field(
        "warn",
        description="A password valid now that expires before go-live under its normal "
        "maximum age: warn (the person is prompted and changes it in the meantime, unless "
        "they cannot change it themselves) or fail (it counts as expired on Day 1)",
    )


class Programme(Strict):
    name: str = Field(description="Name of the merger programme")
    go_live: GoLive = Field(description="Go-live: expiry is judged against it")
    passwords: Passwords = Field(default_factory=Passwords)
    description: str = ""
    resolvers: list[HostPort] = Field(
        default_factory=list,
        description="DNS resolvers the sweep itself uses to find servers; empty = the OS resolver",
    )


class MailDomains(Strict):
    old: list[Hostname] = Field(default_factory=list)
    new: Hostname | None = None


class Organisation(Strict):
    name: str
    mail_domains: MailDomains = Field(default_factory=MailDomains)
    ca_bundle: CaBundlePath | None = None
    owner: str = ""


class Site(Strict):
    organisation: Id
    name: str = ""
    vantage_points: list[Id] = Field(default_factory=lambda: ["local"])
    resolvers: list[HostPort] = Field(default_factory=list, description="The site's DNS resolvers")
    owner: str = ""


class VantagePoint(Strict):
    kind: Literal["local", "ssh"]
    host: Hostname | None = None
    port: Port = 22
    user: str | None = None
    key: SecretRef | None = Field(None, description="Private key (PEM) as a secret reference")
    password: SecretRef | None = None
    known_hosts: KnownHostsPath | None = None
    insecure_host_key: bool = Field(
        False,
        description="Accept any SSH host key. Off by default: keys are verified.",
        json_schema_extra=OPT_OUT,
    )
    resolvers: list[HostPort] = Field(
        default_factory=list,
        description="DNS resolvers it asks when it speaks for itself, not for a site (e.g. "
        "an outside vantage point: the internet's view); empty = its site's, else the "
        "sweep's (local) or the jump host's own (ssh)",
    )


# ----------------------------------------------------------------------------- service objects


class ServiceObject(Strict):
    """Something staff need on Day 1 that several families may check."""

    name: str = Field("", description="Display name")
    owner: str = Field("", description="Who fixes it")
    organisation: Id | None = Field(None, description="Organisation that runs it (none: shared)")
    tags: list[str] = Field(default_factory=list)
    checked_from: Id = Field(
        "sites",
        description="Where probes of it run from: 'sites' (each vantage point of each site "
        "whose staff need it), 'central' (this machine, once, for everyone) or the id of a "
        "vantage point (once, from there, for everyone)",
    )


class Application(ServiceObject):
    url: str = Field(description="The application's URL (http:// or https://)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"url is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http:// or https:// URL with a host name")
        return value

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urllib.parse.urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


class NetworkResource(ServiceObject):
    host: Hostname = Field(description="Host name or address")
    port: Port


class MailDomain(ServiceObject):
    """A mail domain of the programme (an organisation's old domain or the new shared
    one). Its id is the domain name; staff need it through their addresses."""


class TelephonyEndpoint(ServiceObject):
    """A registrar, proxy, trunk, SBC or PBX of the telephony system."""

    serves: list[Id] = Field(
        default_factory=list,
        description="Organisations whose staff's phones depend on it (empty: everyone "
        "who needs a phone)",
    )
    sites: list[Id] = Field(
        default_factory=list,
        description="Sites whose staff's phones depend on it (empty: every site of the "
        "organisations it serves), e.g. a branch still on a legacy PBX",
    )


# Core sections of service objects, in the order reports list them.
CORE_OBJECT_SECTIONS: dict[str, type[ServiceObject]] = {
    "applications": Application,
    "network_resources": NetworkResource,
    "mail_domains": MailDomain,
    "telephony_endpoints": TelephonyEndpoint,
}


# ----------------------------------------------------------------------------- people


class NeedsDelta(Strict):
    applications: list[Id] = Field(default_factory=list)
    network_resources: list[Id] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class Role(Strict):
    description: str = ""
    applications: list[Id] = Field(default_factory=list)
    network_resources: list[Id] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list, description="Directory groups the role needs")
    extension: bool = Field(False, description="The role needs a phone extension")
    mailbox: bool = Field(False, description="The role needs a mailbox in the new domain")


class Staff(Strict):
    id: Id
    organisation: Id
    site: Id
    roles: list[Id] = Field(default_factory=list)
    name: str = ""
    username: str = ""
    upn: str = ""
    employee_number: str = Field(
        "", description="HR employee number (empty: the staff id is the employee number)"
    )
    old_mail: list[str] = Field(default_factory=list)
    new_mail: str = ""
    extension: str = ""
    tags: list[str] = Field(default_factory=list)
    # default_factory, not a default instance: pydantic deep-copies default instances,
    # which costs a second per 10,000 staff.
    needs: NeedsDelta = Field(default_factory=NeedsDelta)
    exempt: NeedsDelta = Field(default_factory=NeedsDelta)
    attributes: dict[str, str] = Field(default_factory=dict)
    pilot: bool = Field(False, description="A pilot account: real logins are attempted")
    credential: SecretRef | None = Field(
        None, description="The pilot's secret, wherever no per-target credential is listed"
    )
    credentials: dict[Id, SecretRef] = Field(
        default_factory=dict,
        description="Per-target secrets of a pilot: the id of a directory (or another "
        "target a family logs in to) -> secret reference",
    )

    @property
    def key(self) -> str:
        """The stable subject id of this person."""
        return f"staff:{self.organisation}/{self.id}"

    @property
    def employee_key(self) -> str:
        """The HR employee number: ``employee_number``, else the staff id."""
        return self.employee_number or self.id

    def credential_for(self, target: str) -> str | None:
        """The secret reference to log in to ``target`` with (None: none for it, so no
        attempt may be made there)."""
        return self.credentials.get(target, self.credential)


# Staff fields a CSV column may fill. Nested ones are written with a dot: the list
# fields of ``needs``/``exempt`` (``needs.applications``), one attribute
# (``attributes.employeeType``), one per-target credential (``credentials.shared-ad``).
CSV_FIELDS = (
    "id",
    "organisation",
    "site",
    "roles",
    "name",
    "username",
    "upn",
    "employee_number",
    "old_mail",
    "new_mail",
    "extension",
    "tags",
    "pilot",
    "credential",
)
CSV_NESTED = {
    "needs": tuple(NeedsDelta.model_fields),
    "exempt": tuple(NeedsDelta.model_fields),
    "attributes": (),  # any attribute name
    "credentials": (),  # any target id
}
LIST_COLUMNS = frozenset(
    {"roles", "old_mail", "tags", *(f"{k}.{f}" for k in ("needs", "exempt") for f in CSV_NESTED[k])}
)
# Placeholders a credential pattern of a staff source may use.
PATTERN_FIELDS = ("id", "organisation", "site", "username", "upn", "employee_number")


def _csv_field(key: str) -> str:
    if key in CSV_FIELDS:
        return key
    head, dot, tail = key.partition(".")
    allowed = CSV_NESTED.get(head)
    if dot and allowed is not None and tail and (not allowed or tail in allowed):
        return key
    known = [*CSV_FIELDS, *(f"{k}.{f}" for k, fs in CSV_NESTED.items() for f in fs)]
    close = difflib.get_close_matches(key, known, n=1)
    raise ValueError(
        f"columns maps unknown field {key!r}"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + "; fields: "
        + ", ".join(CSV_FIELDS)
        + ", needs.<applications|network_resources|groups>, exempt.<...>, "
        "attributes.<name>, credentials.<target id>"
    )


def _pattern(value: str) -> str:
    """A credential pattern: a secret reference with ``{field}`` placeholders."""
    if not is_reference(value):
        raise ValueError(
            f"this pattern makes secret references, so it must be one; {REFERENCE_HELP}"
        )
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"not a pattern: {exc}") from None
    unknown = [n for n in names if n not in PATTERN_FIELDS]
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; use "
            + ", ".join("{" + f + "}" for f in PATTERN_FIELDS)
        )
    return value


CredentialPattern = Annotated[
    str,
    AfterValidator(_pattern),
    Field(description="A secret reference with placeholders, e.g. file:pilots/{id}.pw"),
]


class StaffSource(Strict):
    file: str = Field(description="CSV file, relative to the file it is written in")
    organisation: Id | None = Field(None, description="Organisation when there is no such column")
    site: Id | None = Field(None, description="Site when there is no such column")
    list_separator: str = Field(";", min_length=1, description="Separates list values in a cell")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The CSV delimiter")
    columns: dict[Annotated[str, AfterValidator(_csv_field)], str] = Field(
        description="inventory field: CSV column header. Fields: "
        + ", ".join(CSV_FIELDS)
        + ", needs.<applications|network_resources|groups>, exempt.<...>, "
        "attributes.<name>, credentials.<target id>"
    )
    credential: CredentialPattern | None = Field(
        None,
        description="The credential of each pilot row whose credential cell is empty, "
        "e.g. file:pilots/{organisation}-{id}.pw",
    )
    credentials: dict[Id, CredentialPattern] = Field(
        default_factory=dict,
        description="Per-target credentials of each pilot row (target id -> pattern), "
        "where its credentials.<target> cell is empty",
    )

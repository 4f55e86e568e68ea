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
import ipaddress
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from readiness.secrets import REFERENCE_HELP, is_reference

__all__ = [
    "CORE_OBJECT_SECTIONS",
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
    "split_host_port",
]


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


class Programme(Strict):
    name: str = Field(description="Name of the merger programme")
    go_live: dt.date | dt.datetime = Field(description="Go-live date: expiry is judged against it")
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
        False, description="Accept any SSH host key. Off by default: keys are verified."
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
    credential: SecretRef | None = None

    @property
    def key(self) -> str:
        """The stable subject id of this person."""
        return f"staff:{self.organisation}/{self.id}"


LIST_COLUMNS = frozenset({"roles", "old_mail", "tags"})


class StaffSource(Strict):
    file: str = Field(description="CSV file, relative to the file it is written in")
    organisation: Id | None = Field(None, description="Organisation when there is no such column")
    site: Id | None = Field(None, description="Site when there is no such column")
    list_separator: str = Field(";", min_length=1, description="Separates list values in a cell")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The CSV delimiter")
    columns: dict[
        Literal[
            "id",
            "organisation",
            "site",
            "roles",
            "name",
            "username",
            "upn",
            "old_mail",
            "new_mail",
            "extension",
            "tags",
            "pilot",
        ],
        str,
    ] = Field(description="inventory field: CSV column header")

"""Typed models of the sections the core owns. The models are the schema.

Check families declare their own sections with the same base class
(:class:`Strict`) and the field types below (:data:`SecretRef`, :data:`HostPort`),
so the whole inventory is validated in one pass and described by one JSON Schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from readiness.secrets import REFERENCE_HELP, is_reference


class Strict(BaseModel):
    """Base of every inventory object: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_reference(value: str) -> str:
    if not is_reference(value):
        # Never echo the value: it may be a real password typed in by mistake.
        raise ValueError(f"this field holds a secret, so it must not be written literally; "
                         f"{REFERENCE_HELP}")
    return value


SecretRef = Annotated[
    str,
    AfterValidator(_secret_reference),
    Field(
        description="A secret reference: env:NAME, file:PATH or keyring:SERVICE/USERNAME",
        # In the schema only: validation goes through _secret_reference for a clearer message.
        json_schema_extra={"pattern": r"^(env|file|keyring):.+$"},
    ),
]

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:-]+$")]
HostPort = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_.:\[\]-]+$", description="host, host:port or [v6]:port"),
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
    ca_bundle: str | None = Field(None, description="CA bundle (PEM) path, relative to the file")
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
    known_hosts: str | None = Field(None, description="known_hosts file, relative to the file")
    insecure_host_key: bool = Field(
        False, description="Accept any SSH host key. Off by default: keys are verified."
    )


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


STAFF_COLUMNS = (
    "id", "organisation", "site", "roles", "name", "username", "upn", "old_mail",
    "new_mail", "extension", "tags", "pilot",
)
LIST_COLUMNS = frozenset({"roles", "old_mail", "tags"})


class StaffSource(Strict):
    file: str = Field(description="CSV file, relative to the file it is written in")
    organisation: Id | None = Field(None, description="Organisation when there is no such column")
    site: Id | None = Field(None, description="Site when there is no such column")
    list_separator: str = Field(";", min_length=1, description="Separates list values in a cell")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The CSV delimiter")
    columns: dict[
        Literal[
            "id", "organisation", "site", "roles", "name", "username", "upn", "old_mail",
            "new_mail", "extension", "tags", "pilot",
        ],
        str,
    ] = Field(description="inventory field: CSV column header")

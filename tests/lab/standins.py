"""Stand-ins for the check families that own `directories`, `applications` and
`network_resources` (fields as agreed in docs/HELPERS.md), used only while such a
family is not installed, so the lab's inventory can be validated today."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from readiness.family import CheckFamily
from readiness.inventory.models import Hostname, Id, Port, SecretRef, Strict
from readiness.registry import load_families


class Directory(Strict):
    kind: Literal["openldap", "ad"]
    organisations: list[Id]
    staff_tags: list[str] = Field(default_factory=list)
    url: str
    start_tls: bool = False
    base_dn: str
    people_base: str | None = None
    groups_base: str | None = None
    bind_dn: str
    bind_password: SecretRef
    match: Literal["username", "upn", "mail"] = "username"
    ca_bundle: str | None = None
    owner: str = ""


class Application(Strict):
    name: str
    url: str
    health: str | None = None
    owner: str = ""


class NetworkResource(Strict):
    name: str
    host: Hostname
    port: Port
    owner: str = ""
    organisation: Id | None = None


class _Identity(CheckFamily):
    name = "standin-identity"
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {"directories": Directory}


class _Network(CheckFamily):
    name = "standin-network"
    sections: ClassVar[Mapping[str, type[BaseModel]]] = {
        "applications": Application, "network_resources": NetworkResource}


def families() -> list[CheckFamily]:
    """Installed families, plus a stand-in for each agreed section nobody owns yet."""
    found = load_families()
    owned = {s for f in found for s in f.sections}
    extra: list[CheckFamily] = []
    if "directories" not in owned:
        extra.append(_Identity())
    if not {"applications", "network_resources"} & owned:
        extra.append(_Network())
    return found + extra

"""The telephony family's blocks: how to reach each telephony endpoint
(``telephony_endpoints.<id>.sip``) and each organisation's extension plan
(``organisations.<id>.telephony``). The models are the schema."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from readiness.inventory.extension import block
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import OPT_OUT, Hostname, Port, Strict, TelephonyEndpoint

__all__ = [
    "DEFAULT_PORTS",
    "ExtensionPlan",
    "Registrations",
    "Sip",
    "Transport",
    "endpoints",
    "parse_range",
    "plan_of",
]

Transport = Literal["udp", "tcp", "tls"]
DEFAULT_PORTS: dict[str, int] = {"udp": 5060, "tcp": 5060, "tls": 5061}
_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")


def parse_range(text: str) -> tuple[int, int, int]:
    """``"20000-29999"`` or ``"4100"`` -> (first, last, digits); ValueError says why."""
    matched = _RANGE.match(text.strip())
    if matched is None:
        raise ValueError(f"{text!r} is not an extension range like 20000-29999")
    first, last = matched.group(1), matched.group(2) or matched.group(1)
    if len(first) != len(last):
        raise ValueError(f"{text!r}: both ends must have the same number of digits")
    if int(first) > int(last):
        raise ValueError(f"{text!r}: the range ends before it starts")
    return int(first), int(last), len(first)


def _range(text: str) -> str:
    parse_range(text)
    return text.strip()


ExtensionRange = Annotated[
    str,
    Field(description="Extensions from-to, e.g. 20000-29999 (or one extension)"),
    AfterValidator(_range),
]


class ExtensionPlan(Strict):
    """An organisation's part of the merged numbering plan."""

    ranges: list[ExtensionRange] = Field(
        default_factory=list,
        description="The extension ranges of the organisation's plan (empty: not checked)",
    )


class Registrations(Strict):
    """How to read which extensions are registered."""

    read: Literal["jsonrpc", "options"] = Field(
        description="'jsonrpc': the registrar's management interface (kamailio JSON-RPC "
        "ul.dump, one call for every contact); 'options': an OPTIONS to each address of "
        "record through the proxy (404/480: not registered)",
    )
    url: str | None = Field(
        None,
        description="JSON-RPC URL (http://, as kamailio's xhttp serves it on its management "
        "network), for read: jsonrpc",
    )
    detail: Literal["brief", "full"] = Field(
        "brief",
        description="jsonrpc: 'brief' reads the addresses of record that have contacts "
        "(kamailio drops expired contacts within its timer interval); 'full' also reads "
        "each contact and its expiry, which kamailio builds in a time growing with the "
        "square of the contacts (22 s at 20,000)",
    )
    domain: Hostname | None = Field(
        None,
        description="Domain of the addresses of record (sip:EXT@DOMAIN); default: "
        "the endpoint's domain or host",
    )
    timeout: float = Field(
        8.0,
        gt=0,
        le=120,
        description="Seconds for each OPTIONS (longer than the proxy's own transaction "
        "timer, so its 408 is seen)",
    )
    read_timeout: float = Field(30.0, gt=0, le=600, description="Seconds for the JSON-RPC call")
    max_in_flight: int = Field(
        100, ge=1, le=5000, description="OPTIONS transactions in flight at once"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"url is not a valid URL: {exc}") from None
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("url must be an http:// URL with a host name")
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> Registrations:
        if self.read == "jsonrpc" and not self.url:
            raise ValueError("read: jsonrpc needs the url of the JSON-RPC interface")
        return self


def _udp_only() -> list[Transport]:
    return ["udp"]


class Sip(Strict):
    """The telephony family's block on a telephony endpoint."""

    kind: Literal["registrar", "proxy", "trunk", "sbc", "pbx"]
    host: Hostname | None = Field(None, description="Host name or address (or give domain)")
    port: Port | None = Field(None, description="Port (default 5060, 5061 for TLS)")
    domain: Hostname | None = Field(
        None,
        description="A SIP domain found through NAPTR and SRV (_sip._udp, _sip._tcp, "
        "_sips._tcp) instead of host and port",
    )
    transports: list[Transport] = Field(
        default_factory=_udp_only, min_length=1, description="Transports it serves"
    )
    expect: list[Annotated[int, Field(ge=100, le=699)]] = Field(
        default_factory=lambda: [200], description="Response codes to OPTIONS that pass"
    )
    maintenance: list[Annotated[int, Field(ge=100, le=699)]] = Field(
        default_factory=list,
        description="Response codes that mean planned maintenance (e.g. 503): a warning, "
        "not a failure",
    )
    timeout: float = Field(4.0, gt=0, le=60, description="Seconds for one OPTIONS")
    tls_name: Hostname | None = Field(
        None,
        description="The name the TLS certificate must carry (default: the domain, as "
        "RFC 5922 says, or the host)",
    )
    ca_bundle: str | None = Field(None, description="CA bundle (PEM), relative to the file")
    verify: bool = Field(
        True, description="Verify TLS certificate chains", json_schema_extra=OPT_OUT
    )
    min_days: int = Field(0, ge=0, description="Days the certificate must stay valid after go-live")
    warn_days: int = Field(30, ge=0, description="Fewer days than this after go-live: a warning")
    registrations: Registrations | None = Field(
        None, description="How to read registrations (registrars only)"
    )

    @model_validator(mode="after")
    def _where(self) -> Sip:
        if (self.host is None) == (self.domain is None):
            raise ValueError("give either host (with port) or domain (found through SRV)")
        if self.domain is not None and self.port is not None:
            raise ValueError("port comes from SRV when a domain is given")
        if len(set(self.transports)) != len(self.transports):
            raise ValueError("a transport is listed twice")
        return self

    @property
    def aor_domain(self) -> str:
        if self.registrations and self.registrations.domain:
            return self.registrations.domain
        return self.domain or self.host or ""

    def port_for(self, transport: str) -> int:
        return self.port or DEFAULT_PORTS[transport]


def endpoints(inventory: Inventory) -> Iterator[tuple[str, TelephonyEndpoint, Sip]]:
    """(id, endpoint, its block) of every telephony endpoint with a ``sip`` block."""
    for ep_id, endpoint in sorted(inventory.telephony_endpoints.items()):
        sip = block(endpoint, "sip", Sip)
        if sip is not None:
            yield ep_id, endpoint, sip


def plan_of(inventory: Inventory, org_id: str) -> ExtensionPlan | None:
    org = inventory.organisations.get(org_id)
    return block(org, "telephony", ExtensionPlan) if org is not None else None

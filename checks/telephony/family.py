"""The ``telephony`` check family: one SIP system for both organisations, every
extension registered.

Inventory: the ``sip`` block on ``telephony_endpoints`` (:class:`~.config.Sip`) and the
``telephony`` block on ``organisations`` (its extension ranges). Probes:

* one per (endpoint, vantage point) of every endpoint with a ``sip`` block, from each
  site whose staff need it (``checked_from``): :mod:`.endpoints`;
* one per selected person who needs a phone, and one per extension held by more than
  one person, from this machine, all in one batch: :mod:`.people` (the merged plan, the
  registrations read once per registrar, every phone asked through the proxy over one
  socket).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from pydantic import BaseModel

from readiness.family import CheckFamily, CheckSpec, HostRef, PlanContext, Probe, RunContext
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import TelephonyEndpoint
from readiness.inventory.needs import NeedEdge, NeedKind
from readiness.net import dns
from readiness.problems import Problem
from readiness.results import Result, Status

from .config import ExtensionPlan, Sip, endpoints
from .endpoints import DNS, OPTIONS, EndpointParams, probe_endpoint
from .numbering import Numbering, normalise, subject_of
from .people import (
    ASSIGNED,
    CONTACT,
    RANGE,
    REGISTERED,
    UNIQUE,
    ExtensionParams,
    PersonParams,
    run_people,
)

__all__ = ["TelephonyFamily"]

FAMILY = "telephony"
TLS_CHECKS = (
    "tls.handshake",
    "tls.certificate-chain",
    "tls.certificate-name",
    "tls.certificate-valid",
    "tls.protocol",
    "tls.key",
)
PEOPLE_BATCH = "telephony-people"
MAX_WORKERS = 16
Params = EndpointParams | PersonParams | ExtensionParams


class TelephonyFamily(CheckFamily[Params]):
    name = FAMILY
    description = (
        "SIP endpoints answer OPTIONS over their transports (SRV/NAPTR, TLS judged at "
        "go-live) from each site that needs them; the merged extension plan; every "
        "extension registered and its phone answering"
    )
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {
        ("telephony_endpoints", "sip"): Sip,
        ("organisations", "telephony"): ExtensionPlan,
    }
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(
            OPTIONS, "the endpoint answers OPTIONS with an expected code over each transport"
        ),
        CheckSpec(DNS, "the SIP domain's NAPTR/SRV records lead to the service"),
        *(CheckSpec(c, f"SIP over TLS: {c.partition('.')[2]}") for c in TLS_CHECKS),
        CheckSpec(ASSIGNED, "a person whose roles need a phone has an extension", NeedKind.PHONE),
        CheckSpec(RANGE, "the extension is in its organisation's ranges", NeedKind.PHONE),
        CheckSpec(UNIQUE, "the extension is held by one person across both organisations"),
        CheckSpec(REGISTERED, "the registrar knows an unexpired contact for it", NeedKind.PHONE),
        CheckSpec(
            CONTACT, "the registered phone answers OPTIONS through the proxy", NeedKind.PHONE
        ),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.PHONE})
    reads: ClassVar[Sequence[str]] = (
        "telephony_endpoints.*.sip",
        "telephony_endpoints.*.serves",
        "telephony_endpoints.*.checked_from",
        "organisations.*.telephony",
        "organisations.*.ca_bundle",
        "staff.*.extension",
        "roles.*.extension",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "programme.resolvers",
    )
    default_timeout = 4.0

    # -- inventory ----------------------------------------------------------------
    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        for ep_id, _, sip in endpoints(inventory):
            if sip.registrations is not None and sip.kind not in ("registrar", "proxy"):
                yield Problem(
                    inventory.where("telephony_endpoints", ep_id, "sip", "registrations"),
                    f"telephony endpoint {ep_id}: registrations are read from a registrar "
                    f"or proxy, not a {sip.kind}",
                    "move registrations to the registrar's endpoint, or set kind: registrar",
                )

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        for ep_id, endpoint, sip in endpoints(inventory):
            url = sip.registrations.url if sip.registrations else None
            named = [sip.host, urllib.parse.urlsplit(url).hostname if url else None]
            for host in dict.fromkeys(h for h in named if h and not dns.is_ip(h)):
                yield HostRef(host, f"telephony_endpoints:{ep_id}", endpoint.owner)

    def needs(self, inventory: Inventory) -> Iterable[NeedEdge]:
        """Each holder of an extension held twice: their phone depends on it."""
        for extension, holders in Numbering(inventory).holders.items():
            if len(holders) > 1:
                for person in holders:
                    yield NeedEdge(person.key, NeedKind.PHONE.value, subject_of(extension))

    # -- plan -----------------------------------------------------------------------
    def plan(self, ctx: PlanContext) -> Iterator[Probe[Params]]:
        inventory = ctx.inventory
        registrars: list[tuple[str, TelephonyEndpoint]] = []
        for ep_id, endpoint, sip in endpoints(inventory):
            if sip.registrations is not None:
                registrars.append((ep_id, endpoint))
            where = sip.domain or f"{sip.host}:{sip.port_for(sip.transports[0])}"
            routes = ctx.reach_routes("telephony_endpoints", ep_id)
            needed_by = tuple(sorted(ctx.sites_needing.get(f"telephony_endpoints:{ep_id}", ())))
            for vantage, (resolvers, sites) in sorted(routes.items()):
                yield Probe(
                    self.name,
                    OPTIONS,
                    f"telephony_endpoints:{ep_id}",
                    f"sip:{where}",
                    EndpointParams(ep_id, resolvers, needed_by),
                    also=(DNS, *TLS_CHECKS),
                    vantage=vantage,
                    server=f"sip:{where}",
                    batch=f"telephony-endpoints@{vantage}",
                    timeout=sip.timeout * (len(sip.transports) + 1),
                    sites=sites,
                    summary=f"OPTIONS to {where} over {', '.join(sip.transports)} from {vantage}",
                )
        timeout = self._people_timeout(inventory)
        for person in ctx.staff:
            needs = inventory.needs(person)
            if not needs.phone:
                continue
            extension = normalise(person.extension)
            # The registrars the who-needs-what graph says this person's phone depends on.
            serving = tuple(
                ep_id for ep_id, _ in registrars if f"telephony_endpoints:{ep_id}" in needs.subjects
            )
            yield Probe(
                self.name,
                REGISTERED if extension and serving else (RANGE if extension else ASSIGNED),
                person.key,
                # Grouped as the dry run lists them: by registrar, else by plan.
                f"telephony_endpoints:{serving[0]}"
                if extension and serving
                else f"plan:{person.organisation}",
                PersonParams(serving if extension else ()),
                also=(ASSIGNED, RANGE, REGISTERED, CONTACT),
                batch=PEOPLE_BATCH,
                timeout=timeout,
                summary=f"the extension of {person.key} in the merged plan"
                + (f", registered at {', '.join(serving)}" if serving and extension else ""),
            )
        # One result per extension held more than once (in the whole inventory) by
        # someone selected: every other extension is unique, and needs no result to say so.
        selected = {person.key for person in ctx.staff}
        for extension, holders in sorted(Numbering(inventory).holders.items()):
            if len(holders) > 1 and any(p.key in selected for p in holders):
                yield Probe(
                    self.name,
                    UNIQUE,
                    subject_of(extension),
                    extension,
                    ExtensionParams(extension),
                    batch=PEOPLE_BATCH,
                    summary=f"extension {extension} is held by {len(holders)} people",
                )

    @staticmethod
    def _people_timeout(inventory: Inventory) -> float:
        found = [s.registrations.timeout for _, _, s in endpoints(inventory) if s.registrations]
        return max(found, default=4.0)

    # -- run --------------------------------------------------------------------------
    def run(self, probes: Sequence[Probe[Params]], ctx: RunContext) -> Iterator[Result]:
        if not probes:
            return
        if probes[0].batch == PEOPLE_BATCH:
            registrars = {
                ep_id: (endpoint.owner, sip)
                for ep_id, endpoint, sip in endpoints(ctx.inventory)
                if sip.registrations is not None
            }
            yield from run_people(probes, ctx, Numbering(ctx.inventory), registrars)
            return
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(probes)), thread_name_prefix="telephony"
        ) as pool:
            futures = [pool.submit(self._endpoint, probe, ctx) for probe in probes]
            for future in futures:
                yield from future.result()

    def _endpoint(self, probe: Probe[Any], ctx: RunContext) -> list[Result]:
        ep_id = probe.params.endpoint
        endpoint = ctx.inventory.telephony_endpoints[ep_id]
        sip = next(s for i, _, s in endpoints(ctx.inventory) if i == ep_id)
        try:
            return probe_endpoint(probe, ctx, endpoint, sip)
        except Exception as exc:  # one broken probe must not take its batch down
            return [
                probe.result(
                    Status.ERROR,
                    f"the SIP check of {probe.target} from {probe.vantage} failed "
                    f"unexpectedly: {type(exc).__name__}: {exc}",
                    root_cause=f"crash|{self.name}",
                    hint="a defect or an environment problem; report the message",
                )
            ]

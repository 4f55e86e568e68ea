"""The ``mail`` check family: every mail domain routes, and every person's new and old
addresses are accepted by the MX, without a message ever being sent.

It attaches a ``mail`` block to the core's mail domains (:class:`.model.Mail`) and
plans three kinds of probe:

* per domain and vantage point, its DNS (check ``mail.mx``, also ``mail.spf``,
  ``mail.dmarc``, ``mail.dkim``, ``mail.autodiscover``, ``mail.mta-sts``,
  ``mail.tls-rpt``): :mod:`.records`, SPF evaluated by pyspf (:mod:`.spfeval`);
* per domain and vantage point, its MX hosts over SMTP (``mail.smtp``, the STARTTLS
  certificate as ``tls.*`` through :mod:`readiness.net.certificates`, and
  ``mail.catch-all``: a random address that cannot exist must be refused);
* per person, ``mail.rcpt-accepted`` for the new address and the old addresses of
  domains where coexistence is planned, all persons in one batch so recipients share
  sessions (:mod:`.rcpt`).

Statuses: ``fail`` when the server or the zone answered wrongly (MX elsewhere, no
SPF pass, DMARC missing or weaker than planned, 5xx to RCPT, no STARTTLS), ``error``
when we could not find out (SERVFAIL, timeout, refused connection, a 4xx after its
one retry), ``warn`` for a weak DKIM key, a missing expected MX host and every
acceptance from a catch-all MX (it proves nothing). Root causes group people: one
rejected mailbox is one blocker, an unreachable MX is one blocker for everyone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from readiness.family import CheckFamily, CheckSpec, HostRef, PlanContext, Probe, RunContext
from readiness.inventory.extension import block
from readiness.inventory.inventory import Inventory
from readiness.inventory.needs import NeedKind
from readiness.problems import Problem
from readiness.results import Result

from .model import Mail

__all__ = ["MailFamily", "family"]

MX, SPF, DMARC, DKIM = "mail.mx", "mail.spf", "mail.dmarc", "mail.dkim"
AUTODISCOVER, MTA_STS, TLS_RPT = "mail.autodiscover", "mail.mta-sts", "mail.tls-rpt"
SMTP, CATCH_ALL, RCPT = "mail.smtp", "mail.catch-all", "mail.rcpt-accepted"
TLS_CHECKS = (
    "tls.handshake",
    "tls.certificate-chain",
    "tls.certificate-name",
    "tls.certificate-valid",
    "tls.protocol",
    "tls.key",
)  # readiness.net.certificates.CHECKS (imported lazily: cryptography is slow to load)


Resolvers = tuple[tuple[str, str], ...]  # (resolver, vantage it is asked from), in order
Address = tuple[str, str, Resolvers]  # (address, "new" | "old", resolvers of its domain)


@dataclass(frozen=True)
class DomainCheck:
    """A domain's DNS or its MX hosts, from one vantage point."""

    domain: str
    resolvers: Resolvers
    owner: str
    # Staff send from it on Day 1 (an organisation's new domain): its sender
    # authentication (SPF, DMARC, DKIM) speaks for them. An old domain only receives
    # during coexistence: those records are its owner's to fix and stop no one.
    sending: bool = True


@dataclass(frozen=True)
class PersonCheck:
    """A person's addresses to verify at their domains' MX."""

    addresses: tuple[Address, ...]


def mail_block(inventory: Inventory, domain: str) -> Mail | None:
    obj = inventory.mail_domains.get(domain)
    return block(obj, "mail", Mail) if obj is not None else None


class MailFamily(CheckFamily[Any]):
    name = "mail"
    description = (
        "Mail domains route (MX, SPF, DKIM, DMARC, STARTTLS) and every person's new and "
        "old addresses are accepted by the MX (RCPT TO, no message sent)"
    )
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {("mail_domains", "mail"): Mail}
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(MX, "MX present, at the expected hosts, the same from every resolver"),
        CheckSpec(SPF, "one SPF record, evaluated: every sending host gets pass"),
        CheckSpec(DMARC, "a DMARC record, parseable, at least the policy planned"),
        CheckSpec(DKIM, "each DKIM selector publishes a usable key (weak keys warn)"),
        CheckSpec(AUTODISCOVER, "autodiscover/autoconfig names resolve"),
        CheckSpec(MTA_STS, "MTA-STS record, reported where published"),
        CheckSpec(TLS_RPT, "TLS-RPT record, reported where published"),
        CheckSpec(SMTP, "each MX host answers SMTP (banner, EHLO) and offers STARTTLS"),
        *(CheckSpec(c, f"the MX's STARTTLS {c.removeprefix('tls.')}") for c in TLS_CHECKS),
        CheckSpec(CATCH_ALL, "each MX refuses an address that cannot exist"),
        CheckSpec(RCPT, "the MX accepts the person's address (RCPT TO)", NeedKind.MAILBOX),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.MAILBOX})
    reads: ClassVar[Sequence[str]] = (
        "mail_domains.*.mail",
        "staff.*.new_mail",
        "staff.*.old_mail",
        "roles.*.mailbox",
        "organisations.*.ca_bundle",
        "sites.*.resolvers",
        "sites.*.vantage_points",
        "programme.resolvers",
    )
    default_timeout = 10.0

    def validate(self, inventory: Inventory) -> Iterable[Problem]:
        for domain, obj in sorted(inventory.mail_domains.items()):
            found = block(obj, "mail", Mail)
            org = found.ca_organisation if found else None
            if org is not None and org not in inventory.organisations:
                yield Problem(
                    inventory.where("mail_domains", domain, "mail", "ca_organisation"),
                    f"mail domain {domain} names unknown organisation {org!r}",
                    "known organisations: " + ", ".join(sorted(inventory.organisations)),
                )
            if found is not None and found.warn_days < found.min_days:
                yield Problem(
                    inventory.where("mail_domains", domain, "mail", "warn_days"),
                    f"mail domain {domain}: warn_days ({found.warn_days}) is below "
                    f"min_days ({found.min_days})",
                    "warn_days is the earlier warning: make it at least min_days",
                )

    def hosts(self, inventory: Inventory) -> Iterable[HostRef]:
        for domain, obj in sorted(inventory.mail_domains.items()):
            found = block(obj, "mail", Mail)
            for host in found.mx if found else ():
                yield HostRef(host, f"mail_domains:{domain}", obj.owner)

    # ------------------------------------------------------------------ plan
    def plan(self, ctx: PlanContext) -> Iterator[Probe[Any]]:
        inventory = ctx.inventory
        domain_routes: dict[str, dict[str, tuple[str, ...]]] = {}
        sending_domains = {
            org.mail_domains.new.lower()
            for org in inventory.organisations.values()
            if org.mail_domains.new
        }
        for domain, obj in sorted(inventory.mail_domains.items()):
            found = block(obj, "mail", Mail)
            if found is None:
                continue
            routes = domain_routes[domain] = ctx.routes("mail_domains", domain)
            subject = f"mail_domains:{domain}"
            sending = domain in sending_domains
            for vantage, sites in routes.items():
                check = DomainCheck(
                    domain, _resolvers(ctx, found, vantage, sites), obj.owner, sending
                )
                yield Probe(
                    self.name,
                    MX,
                    subject,
                    domain,
                    check,
                    also=(SPF, DMARC, DKIM, AUTODISCOVER, MTA_STS, TLS_RPT),
                    vantage=vantage,
                    timeout=found.timeout * 3,
                    sites=sites,
                    summary=f"look up the MX, SPF, DMARC and DKIM of {domain}",
                )
                yield Probe(
                    self.name,
                    SMTP,
                    subject,
                    domain,
                    check,
                    also=(*TLS_CHECKS, CATCH_ALL),
                    vantage=vantage,
                    server=f"mail:{domain}",
                    timeout=found.timeout * 3,
                    sites=sites,
                    summary=f"speak SMTP and STARTTLS to the MX of {domain}",
                )
        yield from self._people(ctx, domain_routes)

    def _people(
        self, ctx: PlanContext, domain_routes: dict[str, dict[str, tuple[str, ...]]]
    ) -> Iterator[Probe[PersonCheck]]:
        inventory = ctx.inventory
        blocks = {d: mail_block(inventory, d) for d in domain_routes}
        # (domain, site) -> (vantage, resolvers, the sites it speaks for): once per pair.
        routes: dict[tuple[str, str], tuple[str, Resolvers, tuple[str, ...]]] = {}

        def route(domain: str, site: str) -> tuple[str, Resolvers, tuple[str, ...]]:
            found = routes.get((domain, site))
            if found is None:
                options = domain_routes[domain]
                vantage = next((v for v, s in options.items() if site in s), next(iter(options)))
                block_ = blocks[domain]
                assert block_ is not None
                speaks = tuple(s for s in options[vantage] if s == site)
                found = routes[(domain, site)] = (
                    vantage,
                    _resolvers(ctx, block_, vantage, options[vantage]),
                    speaks,
                )
            return found

        for person in ctx.staff:
            wanted: list[tuple[str, str]] = []
            if "@" in person.new_mail and inventory.needs(person).mailbox:
                wanted.append((person.new_mail.lower(), "new"))
            for old in person.old_mail:
                found = blocks.get(old.rpartition("@")[2].lower())
                if "@" in old and found is not None and found.coexistence:
                    wanted.append((old.lower(), "old"))
            by_vantage: dict[str, list[Address]] = {}
            speaks_for: dict[str, tuple[str, ...]] = {}
            for address, kind in dict.fromkeys(wanted):
                domain = address.rpartition("@")[2]
                if blocks.get(domain) is None:
                    continue
                vantage, resolvers, speaks = route(domain, person.site)
                by_vantage.setdefault(vantage, []).append((address, kind, resolvers))
                speaks_for[vantage] = speaks
            for vantage, addresses in sorted(by_vantage.items()):
                yield Probe(
                    self.name,
                    RCPT,
                    person.key,
                    addresses[0][0],
                    PersonCheck(tuple(addresses)),
                    vantage=vantage,
                    server=f"mail:{addresses[0][0].rpartition('@')[2]}",  # the MX of its domain
                    batch=f"{RCPT}@{vantage}",
                    timeout=self.default_timeout,
                    sites=speaks_for[vantage],
                    summary=f"RCPT TO {', '.join(a for a, _, _ in addresses)} at the MX (no DATA)",
                )

    # ------------------------------------------------------------------ run
    def run(self, probes: Sequence[Probe[Any]], ctx: RunContext) -> Iterator[Result]:
        from . import domains, people

        if probes and probes[0].check == RCPT:
            yield from people.run(probes, ctx)
            return
        for probe in probes:
            if probe.check == MX:
                yield from domains.records(probe, ctx)
            else:
                yield from domains.smtp(probe, ctx)


def _resolvers(ctx: PlanContext, found: Mail, vantage: str, sites: Sequence[str]) -> Resolvers:
    """(resolver, vantage asked from): the block's (from the probe's vantage point), else
    each site's own (from its vantage point), else the sweep's (from this machine)."""
    from readiness.net.dns import format_resolver

    if found.resolvers:
        return tuple((format_resolver(r), vantage) for r in found.resolvers)
    pairs: list[tuple[str, str]] = []
    for site_id in sites:
        site = ctx.inventory.sites.get(site_id)
        if site is not None and site.resolvers:
            pairs += [(format_resolver(r), vantage) for r in site.resolvers]
    if not pairs:
        programme, _ = ctx.resolvers_for(None)
        pairs = [(r, "local") for r in programme]
    return tuple(dict.fromkeys(pairs))


def probe_address(domain: str) -> str:
    """An address of ``domain`` that cannot exist (a catch-all accepts it)."""
    return f"readiness-no-such-user-{secrets.token_hex(6)}@{domain}"


family = MailFamily()

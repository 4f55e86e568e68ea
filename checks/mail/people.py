"""Every person's addresses verified at their domain's MX, all persons of a batch at once:
recipients are grouped by MX host so that sessions carry hundreds of RCPTs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from readiness.family import Probe, RunContext
from readiness.results import Result, Status

from . import PersonCheck, Resolvers, mail_block
from .facts import catch_all, host_addresses, mx_of, smtp_cause
from .model import Mail
from .rcpt import Outcome, Stats, verify

__all__ = ["STATS", "run"]

STATS = Stats()  # sessions opened and RCPTs sent (tests and benchmarks read it)
MAX_SERVERS = 16  # MX hosts verified at once


@dataclass(frozen=True)
class Verdict:
    """What the family concludes about one address."""

    status: Status
    summary: str
    observed: str
    hint: str = ""
    root_cause: str = ""
    server: str = ""


@dataclass
class _Server:
    """Addresses to ask one MX host (any of the domains it receives for)."""

    host: str
    address: str
    port: int
    found: Mail  # the block of its first domain: timeouts and RCPT settings
    domains: dict[str, Mail] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)
    keys: list[tuple[str, Resolvers]] = field(default_factory=list)  # of each address


def run(probes: Sequence[Probe[PersonCheck]], ctx: RunContext) -> Iterator[Result]:
    vantage = probes[0].vantage
    by_domain: dict[tuple[str, Resolvers], list[str]] = {}
    seen: set[str] = set()
    for probe in probes:
        for address, _, resolvers in probe.params.addresses:
            addresses = by_domain.setdefault((address.rpartition("@")[2], resolvers), [])
            if address not in seen:  # two people with one address: asked once
                seen.add(address)
                addresses.append(address)
    verdicts: dict[str, Verdict] = {}
    # An MX that cannot be reached is passed over for the next one, as senders do.
    preference = 0
    while by_domain:
        by_domain = _ask(ctx, vantage, by_domain, verdicts, preference)
        preference += 1
    for probe in probes:
        for address, kind, _ in probe.params.addresses:
            v = verdicts[address]
            bad = v.status is not Status.PASS
            yield probe.result(
                v.status,
                v.summary,
                target=address,
                expected="2xx to RCPT TO (the MX accepts the address)",
                observed=v.observed,
                hint=v.hint,
                impact=(_impact(kind) if bad else ""),
                owner=_owner(ctx, address) if bad else "",
                root_cause=v.root_cause,
                need="mailbox",
                details={"address": address, "kind": kind, "server": v.server},
            )


def _ask(
    ctx: RunContext,
    vantage: str,
    by_domain: dict[tuple[str, Resolvers], list[str]],
    verdicts: dict[str, Verdict],
    preference: int,
) -> dict[tuple[str, Resolvers], list[str]]:
    """Ask each domain's ``preference``-th MX host about its addresses (the hosts in
    parallel); the verdicts land in ``verdicts``; returns the addresses whose host could
    not be reached (to ask the next one)."""
    servers: dict[tuple[str, int], _Server] = {}
    for (domain, resolvers), addresses in by_domain.items():
        found = mail_block(ctx.inventory, domain)
        assert found is not None
        routed = _route(ctx, domain, resolvers, found, addresses, verdicts, preference)
        if routed is not None:
            host, address = routed
            server = servers.setdefault(
                (address, found.smtp_port), _Server(host, address, found.smtp_port, found)
            )
            server.domains[domain] = found
            server.addresses += addresses
            server.keys += [(domain, resolvers)] * len(addresses)
    unreached: dict[tuple[str, Resolvers], list[str]] = {}
    with ThreadPoolExecutor(max(1, min(MAX_SERVERS, len(servers)))) as pool:
        answers = pool.map(lambda s: _verify(ctx, vantage, s), servers.values())
        for s, got in zip(servers.values(), answers, strict=True):
            for address, key in zip(s.addresses, s.keys, strict=True):
                reached, verdicts[address] = got[address]
                if not reached:
                    unreached.setdefault(key, []).append(address)
    return unreached


def _impact(kind: str) -> str:
    if kind == "old":
        return "mail sent to this person's old address bounces during coexistence"
    return "mail to this person's new address bounces on Day 1"


def _owner(ctx: RunContext, address: str) -> str:
    obj = ctx.inventory.mail_domains.get(address.rpartition("@")[2])
    return obj.owner if obj is not None else ""


def _route(
    ctx: RunContext,
    domain: str,
    resolvers: Resolvers,
    found: Mail,
    addresses: list[str],
    verdicts: dict[str, Verdict],
    index: int,
) -> tuple[str, str] | None:
    """(host, address) of the MX to ask about ``addresses`` (the ``index``-th by
    preference), or None: the error verdict of every address when there is none at all,
    and the verdicts of the hosts already tried when there is no further one."""
    mx = mx_of(ctx, domain, resolvers, found.timeout)
    if index and index >= len(mx.hosts):
        return None
    if index:
        host = mx.hosts[index][1]
        addresses_of_host, _, _ = host_addresses(ctx, host, resolvers, found.timeout)
        return (host, addresses_of_host[0]) if addresses_of_host else None
    if mx.error or not mx.hosts:
        status = Status.ERROR if mx.error else Status.FAIL
        verdict = Verdict(
            status,
            f"{domain} has no usable MX: {mx.answer.describe()}",
            mx.answer.describe(),
            hint=f"see the mail.mx result of {domain}",
            root_cause=f"mail.mx|{domain}|missing"
            if not mx.error
            else f"dns|{domain}|MX|{mx.answer.resolver}|{mx.answer.outcome}",
        )
        verdicts.update(dict.fromkeys(addresses, verdict))
        return None
    host = mx.hosts[index][1]
    found_addresses, outcome, why = host_addresses(ctx, host, resolvers, found.timeout)
    if not found_addresses:
        verdict = Verdict(
            Status.ERROR,
            f"the MX host {host} does not resolve: {why}",
            why,
            hint=f"see the dns.resolves result of {host}",
            root_cause=f"dns|{host}|{outcome}",
        )
        verdicts.update(dict.fromkeys(addresses, verdict))
        return None
    return host, found_addresses[0]


def _verify(ctx: RunContext, vantage: str, s: _Server) -> dict[str, tuple[bool, Verdict]]:
    """address -> (whether the server was reached, the verdict)."""
    server = f"{s.address}:{s.port}"
    catching = {
        domain
        for domain, found in s.domains.items()
        if catch_all(ctx, vantage, s.address, s.port, domain, found).kind == "accepted"
    }
    outcomes = verify(
        s.addresses,
        lambda: ctx.vantage(vantage).connect(s.address, s.port, s.found.timeout),
        server,
        s.found.rcpt,
        s.found.timeout,
        hold=lambda: ctx.limit(f"smtp:{server}@{vantage}"),
        stats=STATS,
    )
    return {
        a: (
            o.kind != "refused",
            _judge(o, s.host, a.rpartition("@")[2], a.rpartition("@")[2] in catching),
        )
        for a, o in outcomes.items()
    }


def _judge(o: Outcome, host: str, domain: str, catch: bool) -> Verdict:
    at = f"{host} ({o.server})"
    if o.kind == "accepted" and catch:
        return Verdict(
            Status.WARN,
            f"{o.address} accepted by {at}, which accepts any address of {domain}: "
            "this proves nothing",
            o.reply,
            hint="turn on recipient validation at SMTP time on the MX, then sweep again",
            root_cause=f"mail.catch-all|{host}:{o.server.rpartition(':')[2]}|{domain}",
            server=o.server,
        )
    if o.kind == "accepted":
        return Verdict(
            Status.PASS, f"{o.address} accepted by {at}: {o.reply}", o.reply, server=o.server
        )
    if o.kind == "rejected":
        unknown_user = o.enhanced in ("5.1.1", "5.1.0") or not o.enhanced
        return Verdict(
            Status.FAIL,
            f"{o.address} rejected by {at}: {o.reply}",
            o.reply,
            hint=f"create the mailbox or alias {o.address} on the mail platform (or correct "
            "the address in the inventory)"
            if unknown_user
            else f"make the MX accept mail for {domain} ({o.reply})",
            root_cause="" if unknown_user else f"mail.rcpt|{o.server}|{domain}|{o.enhanced}",
            server=o.server,
        )
    if o.kind == "deferred":
        return Verdict(
            Status.ERROR,
            f"{o.address}: {at} answered {o.reply} twice (temporary: greylisting or a rate limit)",
            o.reply,
            hint="let the sweep's address past greylisting and rate limits, or verify later",
            root_cause=f"mail.rcpt|{o.server}|{domain}|{o.code}",
            server=o.server,
        )
    return Verdict(
        Status.ERROR,
        f"could not ask {at} about {o.address}: {o.reply}",
        o.reply,
        hint="see the mail.smtp result of the MX",
        root_cause=smtp_cause(o.server, "refused" if o.kind == "refused" else "broken"),
        server=o.server,
    )

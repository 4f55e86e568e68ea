"""Every person's addresses verified at their domain's MX, all persons of a batch at once:
recipients are grouped by MX host so that sessions carry hundreds of RCPTs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from readiness.family import Probe, RunContext
from readiness.results import Result, Status

from . import PersonCheck, mail_block
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
class _Group:
    """Addresses of one domain asked at one MX host."""

    domain: str
    found: Mail
    host: str
    address: str
    addresses: list[str]


def run(probes: Sequence[Probe[PersonCheck]], ctx: RunContext) -> Iterator[Result]:
    vantage = probes[0].vantage
    by_domain: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for probe in probes:
        for address, _ in probe.params.addresses:
            key = (address.rpartition("@")[2], probe.params.resolvers)
            by_domain.setdefault(key, []).append(address)
    verdicts: dict[str, Verdict] = {}
    groups: list[_Group] = []
    for (domain, resolvers), addresses in by_domain.items():
        found = mail_block(ctx.inventory, domain)
        assert found is not None
        group = _route(ctx, domain, resolvers, found, addresses, verdicts)
        if group is not None:
            groups.append(group)
    with ThreadPoolExecutor(max(1, min(MAX_SERVERS, len(groups)))) as pool:
        for got in pool.map(lambda g: _verify(ctx, vantage, g), groups):
            verdicts.update(got)
    for probe in probes:
        for address, kind in probe.params.addresses:
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
    resolvers: tuple[tuple[str, str], ...],
    found: Mail,
    addresses: list[str],
    verdicts: dict[str, Verdict],
) -> _Group | None:
    """The MX host to ask about ``addresses`` (its first by preference), or the error
    verdicts of every address when there is none."""
    mx = mx_of(ctx, domain, resolvers, found.timeout)
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
    host = mx.hosts[0][1]
    found_addresses, outcome, why = host_addresses(ctx, host, resolvers, found.timeout)
    if not found_addresses:
        status = Status.ERROR
        verdict = Verdict(
            status,
            f"the MX host {host} does not resolve: {why}",
            why,
            hint=f"see the dns.resolves result of {host}",
            root_cause=f"dns|{host}|{outcome}",
        )
        verdicts.update(dict.fromkeys(addresses, verdict))
        return None
    return _Group(domain, found, host, found_addresses[0], addresses)


def _verify(ctx: RunContext, vantage: str, g: _Group) -> dict[str, Verdict]:
    port = g.found.smtp_port
    server = f"{g.address}:{port}"
    probe_outcome = catch_all(ctx, vantage, g.address, port, g.domain, g.found)
    outcomes = verify(
        g.addresses,
        lambda: ctx.vantage(vantage).connect(g.address, port, g.found.timeout),
        server,
        g.found.rcpt,
        g.found.timeout,
        hold=lambda: ctx.limit(f"smtp:{server}@{vantage}"),
        stats=STATS,
    )
    catch = probe_outcome.kind == "accepted"
    return {a: _judge(o, g.host, g.domain, catch) for a, o in outcomes.items()}


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

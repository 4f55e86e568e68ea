"""The two probes of a mail domain: its DNS records, and its MX hosts over SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from readiness.family import Probe, RunContext, subject_impact
from readiness.inventory.needs import NO_PERSON
from readiness.net.dns import ERROR_OUTCOMES
from readiness.net.trust import TrustError
from readiness.results import Result, Status

from . import CATCH_ALL, DKIM, DMARC, MTA_STS, MX, SMTP, SPF, TLS_RPT, DomainCheck, mail_block
from . import records as rec
from .facts import catch_all, host_addresses, look, mx_of, smtp_cause
from .model import Mail
from .rcpt import Outcome
from .smtp import SmtpFacts

__all__ = ["records", "smtp"]


# Sender authentication: what an old domain's owner fixes without stopping anyone.
_SENDER_CHECKS = frozenset({SPF, DMARC, DKIM, MTA_STS, TLS_RPT})


def _result(probe: Probe[DomainCheck], f: rec.Finding) -> Result:
    bad = f.status not in (Status.PASS, Status.SKIP)
    only_owner = not probe.params.sending and f.check in _SENDER_CHECKS
    return probe.result(
        f.status,
        f.summary,
        check=f.check,
        target=f.target,
        expected=f.expected,
        observed=f.observed,
        hint=f.hint,
        impact=(f.impact or subject_impact(probe.subject, probe.sites)) if bad else "",
        owner=probe.params.owner if bad else "",
        root_cause=f.root_cause,
        need=NO_PERSON if only_owner else "",
        details=f.details or {},
    )


def _block(probe: Probe[DomainCheck], ctx: RunContext) -> Mail:
    found = mail_block(ctx.inventory, probe.params.domain)
    assert found is not None, "planned only for domains with a mail block"
    return found


def records(probe: Probe[DomainCheck], ctx: RunContext) -> Iterator[Result]:
    """MX through every resolver (and their agreement), then SPF, DMARC, DKIM,
    autodiscover, MTA-STS and TLS-RPT through the first resolver that answers."""
    p, found = probe.params, _block(probe, ctx)
    domain, t = p.domain, found.timeout
    answers = [ctx.dns.query(domain, "MX", r, v, t) for r, v in p.resolvers]
    for (resolver, vantage), answer in zip(p.resolvers, answers, strict=True):
        where = f" from {vantage}" if vantage not in ("local", probe.vantage) else ""
        yield _result(
            probe, rec.mx_result(domain, found, answer, f"{domain} MX via {resolver}{where}")
        )
    agreement = rec.mx_agreement(domain, answers, f"{domain} MX agreement")
    if agreement is not None:
        yield _result(probe, agreement)
    resolver, vantage = next(
        (
            pair
            for pair, a in zip(p.resolvers, answers, strict=True)
            if a.outcome not in ERROR_OUTCOMES
        ),
        p.resolvers[0],
    )

    def dns(name: str, rdtype: str) -> Any:
        return ctx.dns.query(name, rdtype, resolver, vantage, t)

    def addresses(host: str) -> tuple[list[str], str]:
        found_addresses, _, why = host_addresses(ctx, host, [(resolver, vantage)], t)
        return found_addresses, why

    txt = dns(domain, "TXT")
    record = rec.spf_record_result(domain, txt)
    yield _result(probe, record)
    if record.status is Status.PASS:
        for f in rec.spf_results(domain, found.spf_senders, addresses, dns, t):
            yield _result(probe, f)
    yield _result(probe, rec.dmarc_result(domain, found.dmarc, dns(f"_dmarc.{domain}", "TXT")))
    for selector in found.dkim_selectors:
        answer = dns(f"{selector}._domainkey.{domain}", "TXT")
        yield _result(probe, rec.dkim_result(domain, selector, answer))
    for name in found.autodiscover:
        lookup = ctx.dns.lookup(name, resolver, vantage, t)
        text = ", ".join(lookup.addresses) if lookup.ok else lookup.describe()
        yield _result(probe, rec.autodiscover_result(name, lookup.outcome, text, lookup.cnames))
    for check, name, prefix in (
        (MTA_STS, f"_mta-sts.{domain}", "v=STSv1"),
        (TLS_RPT, f"_smtp._tls.{domain}", "v=TLSRPTv1"),
    ):
        yield _result(probe, rec.policy_record_result(check, name, prefix, dns(name, "TXT")))


def smtp(probe: Probe[DomainCheck], ctx: RunContext) -> Iterator[Result]:
    """Each MX host: SMTP and STARTTLS (the certificate judged at go-live), and whether
    it refuses an address that cannot exist."""
    p, found = probe.params, _block(probe, ctx)
    mx = mx_of(ctx, p.domain, p.resolvers, found.timeout)
    if mx.error or not mx.hosts:
        status = Status.ERROR if mx.error else Status.SKIP
        yield _result(
            probe,
            rec.Finding(
                SMTP,
                p.domain,
                status,
                f"no MX host to ask: {mx.answer.describe()} (see {MX})",
                hint=f"see the {MX} result of {p.domain}",
                root_cause=f"dns|{p.domain}|MX|{mx.answer.resolver}|{mx.answer.outcome}",
            ),
        )
        return
    try:
        obj = ctx.inventory.mail_domains[p.domain]
        orgs = [found.ca_organisation or obj.organisation or ""]
        bundle = ctx.trust.bundle([o for o in orgs if o])
        ca_file = str(bundle) if bundle else None
    except TrustError as exc:
        yield _result(
            probe,
            rec.Finding(
                SMTP,
                p.domain,
                Status.ERROR,
                str(exc),
                hint="correct the CA bundle path in the inventory",
                root_cause=f"ca-bundle|{p.domain}",
            ),
        )
        return
    for _, host in mx.hosts:
        yield from _host(probe, ctx, found, host, ca_file)


def _host(
    probe: Probe[DomainCheck], ctx: RunContext, found: Mail, host: str, ca_file: str | None
) -> Iterator[Result]:
    from readiness.net.certificates import judge

    p = probe.params
    target = f"{host}:{found.smtp_port}"
    addresses, outcome, why = host_addresses(ctx, host, p.resolvers, found.timeout)
    if not addresses:
        status = Status.ERROR if outcome in ERROR_OUTCOMES else Status.FAIL
        yield _result(
            probe,
            rec.Finding(
                SMTP,
                target,
                status,
                f"the MX host {host} does not resolve: {why}",
                "an address",
                why,
                hint=f"publish an A record for {host}",
                root_cause=f"dns|{host}|{outcome}",
            ),
        )
        return
    address = addresses[0]
    facts, observation = look(ctx, probe.vantage, host, address, found.smtp_port, found, ca_file)
    session = _session_finding(target, f"{address}:{found.smtp_port}", facts, observation, found)
    yield _result(probe, session)
    if session.status is not Status.PASS:
        return  # the session finding says why; TLS and RCPT findings would only repeat it
    if found.starttls or facts.starttls:
        for f in judge(
            observation,
            host=host,
            go_live=ctx.go_live,
            now=ctx.now(),
            min_days=found.min_days,
            warn_days=found.warn_days,
            verify=found.verify_tls,
        ):
            yield _result(
                probe,
                rec.Finding(
                    f.check,
                    target,
                    f.status,
                    f.summary,
                    f.expected,
                    f.observed,
                    f.hint,
                    impact="senders that require TLS cannot deliver to this MX"
                    if f.status.bad
                    else "",
                    root_cause=f"{f.check}|{target}",
                    details=f.details,
                ),
            )
    verdict = catch_all(ctx, probe.vantage, address, found.smtp_port, p.domain, found)
    yield _result(probe, _catch_all_finding(p.domain, target, verdict))


def _session_finding(
    target: str, server: str, facts: SmtpFacts, observation: Any, found: Mail
) -> rec.Finding:
    failure = observation.failure
    banner = str(facts.banner) if facts.banner else ""
    if facts.banner is None or (failure is not None and failure.stage == "connect"):
        message = failure.message if failure is not None else "no banner"
        # No banner at all: a preamble failure here is the connection closing or resetting.
        code = failure.code if failure is not None and failure.code != "preamble" else "closed"
        if failure is not None and "reset by peer" in failure.message:
            code = "closed"  # the MX answered the connection with a reset
        status = Status.FAIL if code in ("refused", "closed") else Status.ERROR
        return rec.Finding(
            SMTP,
            target,
            status,
            f"the MX {target} does not answer SMTP: {message}",
            "a 220 banner",
            message,
            hint="start the SMTP service on the MX, or open the port to senders"
            if status is Status.FAIL
            else "check that the MX runs and that firewalls let SMTP through",
            impact="mail to this domain cannot be delivered on Day 1",
            root_cause=smtp_cause(server, code),
        )
    if facts.banner.code != 220 or facts.ehlo is None or facts.ehlo.code != 250:
        reply = facts.banner if facts.banner.code != 220 else facts.ehlo
        status = Status.ERROR if reply is not None and reply.code // 100 == 4 else Status.FAIL
        return rec.Finding(
            SMTP,
            target,
            status,
            f"the MX {target} refuses the session: {reply}",
            "220 banner, 250 to EHLO",
            f"{banner}; EHLO: {facts.ehlo}",
            hint="a 4xx is temporary (connection limits, load): look at the MX's log; "
            "a 5xx refuses senders: allow them",
            impact="mail to this domain cannot be delivered while the MX refuses sessions",
            root_cause=smtp_cause(server, str(reply.code if reply else "closed")),
        )
    offered = ", ".join(sorted(facts.extensions)) or "none"
    if found.starttls and not facts.starttls:
        return rec.Finding(
            SMTP,
            target,
            Status.FAIL,
            f"the MX {target} does not offer STARTTLS",
            "STARTTLS offered after EHLO",
            f"extensions: {offered}",
            hint="enable STARTTLS on the MX (Postfix: smtpd_tls_security_level = may, "
            "with a certificate)",
            impact="mail to this domain travels unencrypted; senders that require TLS "
            "cannot deliver",
            root_cause=f"mail.smtp|{target}|no-starttls",
        )
    return rec.Finding(
        SMTP,
        target,
        Status.PASS,
        f"{target} answers SMTP: {banner}",
        "220 banner, 250 to EHLO" + (", STARTTLS" if found.starttls else ""),
        f"{banner}; extensions: {offered}",
        details={"extensions": sorted(facts.extensions)},
    )


def _catch_all_finding(domain: str, target: str, verdict: Outcome) -> rec.Finding:
    if verdict.kind == "rejected":
        return rec.Finding(
            CATCH_ALL,
            f"{target} {domain}",
            Status.PASS,
            f"{target} refuses an address of {domain} that cannot exist",
            "5xx to an unknown address",
            verdict.reply,
        )
    if verdict.kind == "accepted":
        return rec.Finding(
            CATCH_ALL,
            f"{target} {domain}",
            Status.WARN,
            f"{target} accepts an address of {domain} that cannot exist ({verdict.address})",
            "5xx to an unknown address",
            verdict.reply,
            hint="turn on recipient validation at SMTP time (Postfix: "
            "smtpd_reject_unlisted_recipient), or accept that RCPT cannot prove mailboxes",
            impact="the sweep cannot tell whether anyone's mailbox exists behind this MX",
            root_cause=f"mail.catch-all|{target}|{domain}",
            details={"address": verdict.address},
        )
    return rec.Finding(
        CATCH_ALL,
        f"{target} {domain}",
        Status.ERROR,
        f"could not find out whether {target} accepts any address: {verdict.reply}",
        "5xx to an unknown address",
        verdict.reply,
        hint="see the MX's log",
        root_cause=smtp_cause(verdict.server, verdict.kind),
    )

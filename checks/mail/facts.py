"""Facts the mail family's probes share, each fetched once per sweep (``ctx.shared``):
a domain's MX through the probe's resolvers, an MX host's addresses, what its SMTP
service says before and during STARTTLS, and whether it accepts any address."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from readiness.family import RunContext
from readiness.net.certificates import TlsObservation
from readiness.net.dns import ERROR_OUTCOMES, Answer

from .model import Mail
from .rcpt import Outcome, verify
from .records import mx_hosts
from .smtp import SmtpFacts

__all__ = ["Mx", "catch_all", "host_addresses", "look", "mx_of", "smtp_cause"]

Resolvers = Sequence[tuple[str, str]]  # (resolver, vantage asked from)


@dataclass(frozen=True)
class Mx:
    """A domain's MX as the sweep uses it: the first resolver that answered."""

    answer: Answer
    hosts: tuple[tuple[int, str], ...]

    @property
    def error(self) -> bool:
        return self.answer.outcome in ERROR_OUTCOMES


def mx_of(ctx: RunContext, domain: str, resolvers: Resolvers, timeout: float) -> Mx:
    answer: Answer | None = None
    for resolver, vantage in resolvers:
        answer = ctx.dns.query(domain, "MX", resolver, vantage, timeout)
        if answer.outcome not in ERROR_OUTCOMES:
            break
    assert answer is not None, "a probe always has a resolver"
    return Mx(answer, tuple(mx_hosts(answer)))


def host_addresses(
    ctx: RunContext, host: str, resolvers: Resolvers, timeout: float
) -> tuple[list[str], str, str]:
    """(addresses, outcome, description) of an MX host through the probe's resolvers."""
    last = None
    for resolver, vantage in resolvers:
        last = ctx.dns.lookup(host, resolver, vantage, timeout)
        if last.ok:
            return list(last.addresses), "ok", last.describe()
        if last.is_failure:
            break
    assert last is not None
    return [], last.outcome, last.describe()


def smtp_cause(server: str, code: str) -> str:
    """The root cause of an MX that cannot be used: shared by the domain's result and by
    every person's result, so an MX down for everyone is one blocker."""
    return f"mail.smtp|{server}|{code}"


def look(
    ctx: RunContext,
    vantage: str,
    host: str,
    address: str,
    port: int,
    found: Mail,
    ca_file: str | None,
) -> tuple[SmtpFacts, TlsObservation]:
    """Banner, EHLO and the STARTTLS certificate of one MX host (once per sweep)."""
    from readiness.net.certificates import observe

    from .smtp import starttls_preamble

    def compute() -> tuple[SmtpFacts, TlsObservation]:
        seen = SmtpFacts()
        observation = observe(
            lambda: ctx.vantage(vantage).connect(address, port, found.timeout),
            server_name=host,
            ca_file=ca_file,
            verify=found.verify_tls,
            timeout=found.timeout,
            preamble=starttls_preamble(found.timeout, seen),
        )
        return seen, observation

    value = ctx.shared(("mail.smtp", vantage, host, address, port, ca_file), compute)
    if isinstance(value, BaseException):
        raise value
    return value


def catch_all(
    ctx: RunContext, vantage: str, address: str, port: int, domain: str, found: Mail
) -> Outcome:
    """What the MX at ``address:port`` says to an address of ``domain`` that cannot exist."""
    from . import probe_address

    server = f"{address}:{port}"

    def compute() -> Outcome:
        nobody = probe_address(domain)
        return verify(
            [nobody],
            lambda: ctx.vantage(vantage).connect(address, port, found.timeout),
            server,
            found.rcpt,
            found.timeout,
            hold=lambda: ctx.limit(f"smtp:{server}@{vantage}"),
        )[nobody]

    value = ctx.shared(("mail.catch-all", vantage, address, port, domain), compute)
    if isinstance(value, BaseException):
        raise value
    return value

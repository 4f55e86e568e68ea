"""A mail domain's DNS, judged: MX (expected hosts, the same answer from every resolver,
TTL), SPF evaluated for each sending host, DMARC, DKIM keys, autodiscover names, and
MTA-STS / TLS-RPT where published. Pure functions of the sweep's DNS answers, except
:func:`spf_results`, which runs pyspf over the same DNS.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from readiness.net.dns import ERROR_OUTCOMES, Answer, is_ip
from readiness.results import Status

from .model import POLICIES, Dmarc, Mail
from .spfeval import Lookup, evaluate

__all__ = [
    "Finding",
    "autodiscover_result",
    "dkim_result",
    "dmarc_result",
    "mx_agreement",
    "mx_hosts",
    "mx_result",
    "parse_tags",
    "policy_record_result",
    "spf_record_result",
    "spf_results",
]

Dns = Callable[[str, str], Answer]  # (name, type) -> answer through the probe's resolver


@dataclass(frozen=True)
class Finding:
    """One judged property; the family turns it into a Result of its probe."""

    check: str
    target: str
    status: Status
    summary: str
    expected: str = ""
    observed: str = ""
    hint: str = ""
    impact: str = ""
    root_cause: str = ""
    details: dict[str, Any] | None = None


def _dns_error(check: str, target: str, answer: Answer, impact: str) -> Finding:
    return Finding(
        check,
        target,
        Status.ERROR,
        f"could not look up {answer.name} {answer.rdtype}: {answer.describe()}",
        observed=answer.describe(),
        hint=f"check that the resolver {answer.resolver} answers for {answer.name}",
        impact=impact,
        root_cause=f"dns|{answer.name}|{answer.rdtype}|{answer.resolver}|{answer.outcome}",
    )


# --------------------------------------------------------------------------- MX


def mx_hosts(answer: Answer) -> list[tuple[int, str]]:
    """(preference, host) of an MX answer, best first."""
    found: list[tuple[int, str]] = []
    for value in answer.values:
        preference, _, host = value.partition(" ")
        if preference.isdigit():
            found.append((int(preference), host.rstrip(".").lower()))
    return sorted(found)


def mx_result(domain: str, block: Mail, answer: Answer, target: str) -> Finding:
    impact = f"mail to addresses in {domain} may not arrive on Day 1"
    expected = ", ".join(block.mx) if block.mx else "at least one MX record"
    if answer.outcome in ERROR_OUTCOMES:
        return _dns_error("mail.mx", target, answer, impact)
    hosts = [h for _, h in mx_hosts(answer)]
    listed = [f"{p} {h}" for p, h in mx_hosts(answer)]
    details: dict[str, Any] = {"mx": listed, "ttl": answer.ttl}
    if not hosts or hosts == [""]:  # no MX, or the null MX (RFC 7505)
        return Finding(
            "mail.mx",
            target,
            Status.FAIL,
            f"{domain} has no MX record ({answer.describe()})",
            expected=expected,
            observed=answer.describe(),
            hint=f"publish MX records for {domain} pointing at the mail platform",
            impact=impact,
            root_cause=f"mail.mx|{domain}|missing",
            details=details,
        )
    want = {h.lower().rstrip(".") for h in block.mx}
    unexpected = [h for h in hosts if want and h not in want]
    missing = sorted(want - set(hosts))
    observed = ", ".join(listed) + f" (TTL {answer.ttl})"
    if unexpected:
        return Finding(
            "mail.mx",
            target,
            Status.FAIL,
            f"{domain} MX points at {', '.join(unexpected)}, not at the expected hosts",
            expected=expected,
            observed=observed,
            hint=f"point the MX records of {domain} at {expected}",
            impact=impact,
            root_cause=f"mail.mx|{domain}|{answer.resolver}|unexpected",
            details=details,
        )
    if missing:
        return Finding(
            "mail.mx",
            target,
            Status.WARN,
            f"{domain} MX lacks {', '.join(missing)}",
            expected=expected,
            observed=observed,
            hint=f"add the missing MX hosts to {domain} or drop them from the inventory",
            impact="mail still arrives, through fewer hosts than planned",
            details=details,
        )
    return Finding(
        "mail.mx",
        target,
        Status.PASS,
        f"{domain} MX: {observed}",
        expected,
        observed,
        details=details,
    )


def mx_agreement(domain: str, answers: Sequence[Answer], target: str) -> Finding | None:
    """Whether every resolver gives the same MX hosts (None when fewer than two answered)."""
    seen = {
        a.resolver + (f" from {a.vantage}" if a.vantage != "local" else ""): a
        for a in answers
        if a.ok or a.is_failure
    }
    if len(seen) < 2:
        return None
    views = {k: ", ".join(h for _, h in mx_hosts(a)) or a.outcome for k, a in seen.items()}
    observed = "; ".join(f"{k}: {v}" for k, v in views.items())
    if len(set(views.values())) == 1:
        return Finding(
            "mail.mx",
            target,
            Status.PASS,
            f"every resolver gives the same MX for {domain}",
            "one answer",
            observed,
        )
    return Finding(
        "mail.mx",
        target,
        Status.FAIL,
        f"resolvers disagree on the MX of {domain}",
        expected="the same MX hosts from every resolver",
        observed=observed,
        hint=f"make every resolver serve the same MX records for {domain} (a stale zone, "
        "split-horizon view or forwarder still holds the old answer)",
        impact=f"mail to {domain} is delivered to different servers depending on the sender",
        root_cause=f"mail.mx|{domain}|split",
        details={"answers": views},
    )


# --------------------------------------------------------------------------- SPF


def spf_records(answer: Answer) -> list[str]:
    return [v for v in answer.values if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]


def spf_record_result(domain: str, answer: Answer) -> Finding:
    target = f"{domain} SPF record"
    impact = f"mail from {domain} may be rejected or sent to spam by receivers on Day 1"
    if answer.outcome in ERROR_OUTCOMES:
        return _dns_error("mail.spf", target, answer, impact)
    records = spf_records(answer)
    if len(records) == 1:
        return Finding(
            "mail.spf",
            target,
            Status.PASS,
            f"{domain} publishes one SPF record",
            "exactly one v=spf1 record",
            records[0],
        )
    return Finding(
        "mail.spf",
        target,
        Status.FAIL,
        f"{domain} publishes {len(records) or 'no'} SPF record{'s' if len(records) != 1 else ''}",
        expected="exactly one v=spf1 record",
        observed=" | ".join(records) or answer.describe(),
        hint=f"publish exactly one TXT record starting v=spf1 at {domain} (two records are a "
        "PermError: receivers treat the domain as having none)",
        impact=impact,
        root_cause=f"mail.spf|{domain}|records",
    )


def spf_results(
    domain: str,
    senders: Sequence[str],
    addresses: Callable[[str], tuple[list[str], str]],
    lookup: Lookup,
    timeout: float,
) -> Iterator[Finding]:
    """One finding per sending host: every address of it must get ``pass``.
    ``addresses(host)`` gives (addresses, why none)."""
    impact = f"mail sent for {domain} from these hosts may be rejected or sent to spam on Day 1"
    for sender in senders:
        target = f"{domain} SPF for {sender}"
        found, why = ([sender], "") if is_ip(sender) else addresses(sender)
        if not found:
            yield Finding(
                "mail.spf",
                target,
                Status.ERROR,
                f"could not find the addresses of {sender}: {why}",
                observed=why,
                hint=f"see the dns.resolves result for {sender}",
                impact=impact,
                root_cause=f"dns|{sender}",
            )
            continue
        helo = sender if not is_ip(sender) else domain
        outcomes = {a: evaluate(domain, a, helo, lookup, timeout) for a in found}
        bad = {a: o for a, o in outcomes.items() if o.result != "pass"}
        observed = "; ".join(f"{a}: {o.result} ({o.explanation})" for a, o in outcomes.items())
        details = {
            "results": {a: o.result for a, o in outcomes.items()},
            "dns_terms": max(o.lookups for o in outcomes.values()),
        }
        if not bad:
            yield Finding(
                "mail.spf",
                target,
                Status.PASS,
                f"SPF of {domain} gives pass for {sender}",
                "pass",
                observed,
                details=details,
            )
            continue
        worst = next(iter(bad.values()))
        if all(o.result == "temperror" for o in bad.values()):
            yield Finding(
                "mail.spf",
                target,
                Status.ERROR,
                f"SPF of {domain} could not be evaluated for {sender}: {worst.explanation}",
                "pass",
                observed,
                hint="check that the resolver answers every name the record names",
                impact=impact,
                root_cause=f"mail.spf|{domain}|temperror",
                details=details,
            )
            continue
        if worst.result == "permerror":
            hint = (
                f"fix the SPF record of {domain}: {worst.explanation} (at most 10 DNS-"
                "querying terms and 2 void lookups, counted through includes and redirects)"
            )
            cause = f"mail.spf|{domain}|permerror"
        else:
            hint = f"authorise {sender} in the SPF record of {domain} (e.g. a:{sender})"
            cause = f"mail.spf|{domain}|{sender}"
        yield Finding(
            "mail.spf",
            target,
            Status.FAIL,
            f"SPF of {domain} gives {worst.result} for {sender}",
            "pass",
            observed,
            hint=hint,
            impact=impact,
            root_cause=cause,
            details=details,
        )


# --------------------------------------------------------------------------- tag records


def parse_tags(record: str) -> dict[str, str]:
    """``k=v; k=v`` (DMARC, DKIM, MTA-STS, TLS-RPT) -> dict; ValueError if malformed."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise ValueError(f"{part!r} is not tag=value")
        if key in tags:
            raise ValueError(f"tag {key!r} appears twice")
        tags[key] = value.strip()
    return tags


def _dmarc_problems(tags: dict[str, str], want: Dmarc | None) -> tuple[list[str], list[str]]:
    """(malformed, weaker than expected)."""
    malformed: list[str] = []
    p, sp = tags.get("p", "").lower(), tags.get("sp", "").lower()
    if p not in POLICIES:
        malformed.append(f"p={p or '(missing)'} is not none, quarantine or reject")
    if sp and sp not in POLICIES:
        malformed.append(f"sp={sp} is not none, quarantine or reject")
    pct_text = tags.get("pct", "100")
    if not pct_text.isdigit() or int(pct_text) > 100:
        malformed.append(f"pct={pct_text} is not 0 to 100")
    if malformed or want is None:
        return malformed, []
    weaker: list[str] = []
    if POLICIES.index(p) < POLICIES.index(want.p):
        weaker.append(f"p={p} (expected at least {want.p})")
    effective_sp = sp or p
    if want.sp is not None and POLICIES.index(effective_sp) < POLICIES.index(want.sp):
        weaker.append(f"sp={effective_sp} (expected at least {want.sp})")
    if int(pct_text) < want.pct:
        weaker.append(f"pct={pct_text} (expected at least {want.pct})")
    if want.rua and not tags.get("rua"):
        weaker.append("no rua (aggregate reports expected)")
    return [], weaker


def dmarc_result(domain: str, want: Dmarc | None, answer: Answer) -> Finding:
    target = f"_dmarc.{domain}"
    impact = f"receivers apply no DMARC policy to mail claiming to be from {domain}"
    expected = (
        f"v=DMARC1 with p>={want.p}"
        + (f", sp>={want.sp}" if want and want.sp else "")
        + (f", pct>={want.pct}" if want else "")
        + (", rua" if want and want.rua else "")
        if want
        else "a v=DMARC1 record"
    )
    if answer.outcome in ERROR_OUTCOMES:
        return _dns_error("mail.dmarc", target, answer, impact)
    records = [v for v in answer.values if v.replace(" ", "").upper().startswith("V=DMARC1")]
    policy = want.p if want else "none"
    hint_publish = (
        f"publish a TXT record at {target} such as v=DMARC1; p={policy}; rua=mailto:dmarc@{domain}"
    )
    if not records:
        return Finding(
            "mail.dmarc",
            target,
            Status.FAIL if want else Status.WARN,
            f"{domain} publishes no DMARC record",
            expected,
            answer.describe(),
            hint=hint_publish,
            impact=impact,
            root_cause=f"mail.dmarc|{domain}|missing",
        )
    if len(records) > 1:
        return Finding(
            "mail.dmarc",
            target,
            Status.FAIL,
            f"{domain} publishes {len(records)} DMARC records",
            expected,
            " | ".join(records),
            hint=f"keep exactly one record at {target} "
            "(receivers ignore DMARC when there are several)",
            impact=impact,
            root_cause=f"mail.dmarc|{domain}|records",
        )
    try:
        tags = parse_tags(records[0])
    except ValueError as exc:
        malformed, weaker = [str(exc)], list[str]()
        tags = {}
    else:
        malformed, weaker = _dmarc_problems(tags, want)
    details: dict[str, Any] = {k: tags[k] for k in ("p", "sp", "pct", "rua") if k in tags}
    if malformed:
        return Finding(
            "mail.dmarc",
            target,
            Status.FAIL,
            f"the DMARC record of {domain} is malformed: {'; '.join(malformed)}",
            expected,
            records[0],
            hint=f"correct the record at {target}",
            impact=impact,
            root_cause=f"mail.dmarc|{domain}|malformed",
            details=details,
        )
    if weaker:
        return Finding(
            "mail.dmarc",
            target,
            Status.FAIL,
            f"the DMARC policy of {domain} is weaker than planned: {'; '.join(weaker)}",
            expected,
            records[0],
            hint=f"publish the agreed policy at {target}",
            impact=f"mail forged as {domain} is not stopped as planned",
            root_cause=f"mail.dmarc|{domain}|policy",
            details=details,
        )
    return Finding(
        "mail.dmarc",
        target,
        Status.PASS,
        f"{domain} DMARC: {records[0]}",
        expected,
        records[0],
        details=details,
    )


def dkim_result(domain: str, selector: str, answer: Answer) -> Finding:
    target = f"{selector}._domainkey.{domain}"
    impact = f"mail signed for {domain} with selector {selector} fails DKIM at receivers"
    if answer.outcome in ERROR_OUTCOMES:
        return _dns_error("mail.dkim", target, answer, impact)
    via = f" (via CNAME {' -> '.join(answer.cnames)})" if answer.cnames else ""
    records = [v for v in answer.values if "p=" in v]
    if not records:
        return Finding(
            "mail.dkim",
            target,
            Status.FAIL,
            f"no DKIM key published at {target}{via}",
            "a DKIM public key",
            answer.describe(),
            hint=f"publish the selector's public key at {target} "
            "(as the mail platform gives it, often a CNAME)",
            impact=impact,
            root_cause=f"mail.dkim|{target}|missing",
        )
    try:
        tags = parse_tags(records[0])
        kind, bits = _dkim_key(tags)
    except ValueError as exc:
        return Finding(
            "mail.dkim",
            target,
            Status.FAIL,
            f"the DKIM record at {target} cannot be used: {exc}",
            "a DKIM public key",
            records[0][:200],
            hint=f"republish the key of selector {selector}",
            impact=impact,
            root_cause=f"mail.dkim|{target}|malformed",
        )
    details = {"key_type": kind, "key_bits": bits, "cnames": list(answer.cnames)}
    observed = f"{kind} {bits}-bit key{via}"
    if kind == "rsa" and bits < 2048:
        return Finding(
            "mail.dkim",
            target,
            Status.WARN,
            f"the DKIM key at {target} is weak: {observed}",
            "RSA 2048 bits or more",
            observed,
            hint=f"rotate selector {selector} to a 2048-bit RSA key",
            impact="receivers may distrust or reject signatures with short keys",
            root_cause=f"mail.dkim|{target}|weak",
            details=details,
        )
    return Finding(
        "mail.dkim",
        target,
        Status.PASS,
        f"DKIM key at {target}: {observed}",
        "a DKIM public key",
        observed,
        details=details,
    )


def _dkim_key(tags: dict[str, str]) -> tuple[str, int]:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if tags.get("v", "DKIM1") != "DKIM1":
        raise ValueError(f"v={tags['v']} is not DKIM1")
    kind = tags.get("k", "rsa").lower()
    data = "".join(tags.get("p", "").split())
    if not data:
        raise ValueError("the key is empty (p=): the selector is revoked")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("p= is not base64") from None
    if kind == "ed25519":
        if len(raw) != 32:
            raise ValueError("an ed25519 key is 32 bytes")
        ed25519.Ed25519PublicKey.from_public_bytes(raw)
        return kind, 256
    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"p= is not a public key: {str(exc)[:80]}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"k={kind} but the key is not RSA")
    return kind, key.key_size


def autodiscover_result(name: str, outcome: str, found: str, chain: Sequence[str]) -> Finding:
    via = f" via CNAME {' -> '.join(chain)}" if chain else ""
    if outcome == "ok":
        return Finding(
            "mail.autodiscover",
            name,
            Status.PASS,
            f"{name} resolves to {found}{via}",
            "resolves",
            f"{found}{via}",
        )
    status = Status.ERROR if outcome in ERROR_OUTCOMES else Status.FAIL
    return Finding(
        "mail.autodiscover",
        name,
        status,
        f"{name} does not resolve: {found}",
        "resolves",
        found,
        hint=f"publish {name} (a CNAME to the mail platform)",
        impact="mail clients cannot configure themselves on Day 1",
        root_cause=f"dns|{name}|{outcome}",
    )


def policy_record_result(check: str, name: str, prefix: str, answer: Answer) -> Finding:
    """MTA-STS (``_mta-sts``) or TLS-RPT (``_smtp._tls``): reported where present."""
    if answer.outcome in ERROR_OUTCOMES:
        return _dns_error(check, name, answer, "")
    records = [v for v in answer.values if v.upper().startswith(prefix.upper())]
    if not records:
        return Finding(check, name, Status.SKIP, f"{name} is not published", prefix, "none")
    try:
        tags = parse_tags(records[0])
    except ValueError as exc:
        return Finding(
            check,
            name,
            Status.WARN,
            f"{name} is malformed: {exc}",
            prefix,
            records[0],
            hint=f"correct the record at {name}",
            impact="senders ignore a malformed policy record",
        )
    return Finding(
        check, name, Status.PASS, f"{name}: {records[0]}", prefix, records[0], details=tags
    )

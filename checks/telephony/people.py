"""Per person and per extension: the merged plan, registration, and the phone answering.

Results about a person (subject ``staff:...``, need ``phone``):

* ``sip.extension-assigned``  fail: their roles need a phone and they have no extension
* ``sip.extension-range``     their extension lies in one of their organisation's ranges
* ``sip.registered``          the registrar knows a contact for it that has not expired
* ``sip.contact``             that contact answers an OPTIONS through the proxy

and about an extension held by more than one person (subject ``extensions:<number>``,
which the graph ties to each holder's phone): ``sip.extension-unique`` fails, once for
all of them; an extension held once needs no result to say so.

A registrar that cannot be asked makes every person it serves ``unknown`` under ONE root
cause (``sip.registrations|<endpoint>|<why>``, ``sip.proxy|<endpoint>|<why>``).
Registrations are judged at the time of the sweep, not at go-live: a registration is a
lease the phone renews (typically every hour), so what go-live needs is a phone that is
registered and renewing now; its expiry is in the details.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from readiness.family import Probe, RunContext
from readiness.inventory.models import Staff
from readiness.results import Result, Status

from .config import Sip
from .numbering import Numbering, normalise
from .registrations import Asked, Contact, ReadError, Registrar, contact_reply, expiry_text

__all__ = [
    "ASSIGNED",
    "CONTACT",
    "RANGE",
    "REGISTERED",
    "UNIQUE",
    "ExtensionParams",
    "PersonParams",
    "run_people",
]

ASSIGNED = "sip.extension-assigned"
RANGE = "sip.extension-range"
UNIQUE = "sip.extension-unique"
REGISTERED = "sip.registered"
CONTACT = "sip.contact"
IMPACT = "the person cannot make or take calls on their extension on Day 1"


@dataclass(frozen=True)
class PersonParams:
    registrars: tuple[str, ...]  # registrar endpoints (with registrations) serving them


@dataclass(frozen=True)
class ExtensionParams:
    extension: str


@dataclass
class _Registry:
    """One registrar's answers for the whole batch."""

    registrar: Registrar
    owner: str
    contacts: dict[str, list[Contact]] | ReadError | None  # None: read through OPTIONS
    asked: Asked
    ms: float  # time per person


def run_people(
    probes: Sequence[Probe[Any]],
    ctx: RunContext,
    numbering: Numbering,
    registrars: dict[str, tuple[str, Sip]],
) -> Iterator[Result]:
    """Results of the per-person and per-extension probes of one batch.

    Each registrar is read, then its proxy asked, in a thread of its own while the
    merged plan's results are made (that time is mostly spent waiting for the servers;
    reading and asking one registrar at once made kamailio slower at both), then each
    probe's results are given together."""
    people = [p for p in probes if isinstance(p.params, PersonParams)]
    wanted = {ep_id for p in people for ep_id in p.params.registrars}
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        pending = {
            ep_id: pool.submit(_ask_registrar, ep_id, *registrars[ep_id], people, ctx)
            for ep_id in sorted(wanted)
        }
        planned = {
            probe.id: list(_plan(probe, person, numbering))
            for probe in people
            if (person := ctx.inventory.staff_by_key.get(probe.subject)) is not None
        }
        registries = {ep_id: future.result() for ep_id, future in pending.items()}
    for probe in probes:
        if isinstance(probe.params, ExtensionParams):
            yield _unique(probe, numbering)
            continue
        yield from planned.get(probe.id, ())
        person = ctx.inventory.staff_by_key.get(probe.subject)
        extension = normalise(person.extension) if person is not None else ""
        for ep_id in probe.params.registrars if extension else ():
            yield from _registration(probe, extension, registries[ep_id])


def _ask_registrar(
    ep_id: str, owner: str, sip: Sip, people: Sequence[Probe[Any]], ctx: RunContext
) -> _Registry:
    """Read one registrar (jsonrpc), then ask its proxy about each extension it serves
    (those it lists as registered, when it could be read)."""
    started = time.perf_counter()
    registrar = Registrar(ep_id, sip, ctx)
    assert sip.registrations is not None
    extensions = sorted(
        {
            normalise(person.extension)
            for p in people
            if ep_id in p.params.registrars
            and (person := ctx.inventory.staff_by_key.get(p.subject)) is not None
            and normalise(person.extension)
        }
    )
    contacts: dict[str, list[Contact]] | ReadError | None = None
    if sip.registrations.read == "jsonrpc":
        contacts = registrar.contacts()
        if not isinstance(contacts, ReadError):
            now = ctx.now()
            extensions = [e for e in extensions if any(c.live(now) for c in contacts.get(e, ()))]
    asked = registrar.ask(extensions)
    ms = (time.perf_counter() - started) * 1000 / max(1, len(extensions))
    return _Registry(registrar, owner, contacts, asked, ms)


# --------------------------------------------------------------------------- the plan


def _plan(probe: Probe[Any], person: Staff, numbering: Numbering) -> Iterator[Result]:
    org = person.organisation
    extension = normalise(person.extension)
    ranges = numbering.ranges.get(org, ())
    if not extension:
        yield probe.result(
            Status.FAIL,
            f"{person.key} needs a phone but has no extension",
            check=ASSIGNED,
            target=f"plan:{org}",
            expected="an extension"
            + (f" in {', '.join(r.text for r in ranges)}" if ranges else ""),
            observed="no extension",
            impact=IMPACT,
            hint="give the person an extension from their organisation's plan (the HR "
            "export's extension column), or drop the phone from their roles",
            root_cause=f"{ASSIGNED}|{org}",
            owner=_owner(numbering, org),
        )
        return
    inside = numbering.in_range(person)
    if inside is None:
        return
    expected = "in " + ", ".join(r.text for r in ranges)
    if inside:
        yield probe.result(
            Status.PASS,
            f"extension {extension} of {person.key} is in its organisation's plan",
            check=RANGE,
            target=extension,
            expected=expected,
            observed=extension,
        )
        return
    elsewhere = [o for o in numbering.owner_of_range(extension) if o != org]
    where = f" (it lies in {', '.join(elsewhere)}'s range)" if elsewhere else ""
    yield probe.result(
        Status.FAIL,
        f"extension {extension} of {person.key} is outside {org}'s ranges{where}",
        check=RANGE,
        target=extension,
        expected=expected,
        observed=extension + where,
        impact=IMPACT,
        hint=f"renumber the person within {', '.join(r.text for r in ranges)}, or correct "
        "the extension in the HR export",
        root_cause=f"{RANGE}|{org}",
        owner=_owner(numbering, org),
        details={"extension": extension, "ranges": [r.text for r in ranges], "in": elsewhere},
    )


def _owner(numbering: Numbering, org_id: str) -> str:
    org = numbering.inventory.organisations.get(org_id)
    return org.owner if org is not None else ""


def _unique(probe: Probe[Any], numbering: Numbering) -> Result:
    extension = probe.params.extension
    holders = list(numbering.holders.get(extension, ()))
    keys = [p.key for p in holders]
    planned = numbering.owner_of_range(extension)
    move = [p.key for p in holders if planned and p.organisation not in planned]
    orgs = sorted({p.organisation for p in holders})
    return probe.result(
        Status.FAIL,
        f"extension {extension} is held by {len(holders)} people"
        + (f" in {' and '.join(orgs)}" if len(orgs) > 1 else ""),
        expected="one holder across both organisations",
        observed=numbering.describe(holders),
        impact="calls to this extension reach only one of its holders (or ring for all of "
        "them) on Day 1",
        hint=f"give each person their own extension: renumber {', '.join(move)} (outside "
        f"{', '.join(planned)}'s plan)"
        if move
        else "give each person their own extension, then update the HR export",
        root_cause=f"{UNIQUE}|{extension}",
        owner=", ".join(o for o in (_owner(numbering, org) for org in orgs) if o),
        details={"holders": keys, "organisations": orgs, "range_of": planned},
    )


# --------------------------------------------------------------------------- registrations

PROXY_HINT = "check that the registrar's proxy answers OPTIONS from this machine"
PROVISION_HINT = (
    "connect and provision the person's phone (or softphone) for this extension; the "
    "registrar has no contact for it"
)
STALE_HINT = (
    "the registration is stale or the phone is unreachable from the proxy (NAT, "
    "firewall): restart the phone and check its network"
)
REGISTERED_EXPECTED = "a registration that has not expired"
CONTACT_EXPECTED = "the phone answers OPTIONS through the proxy"


@dataclass(frozen=True)
class _Say:
    """How one person's registration or contact result reads (``{}`` fields filled in)."""

    status: Status
    summary: str
    hint: str = ""
    cause: str = ""  # root cause; "" for a pass or a skip


# What the proxy's answer to an OPTIONS for the address of record means (contact_reply's
# kinds): for the contact, and (read: options) for the registration.
ON_CONTACT = {
    "answers": _Say(Status.PASS, "the phone answers ({text})"),
    "refuses": _Say(
        Status.FAIL, "the phone does not answer ({text})", STALE_HINT, CONTACT + "|{ep}|{code}"
    ),
    "not-registered": _Say(
        Status.FAIL,
        "the proxy finds no registration ({text})",
        PROVISION_HINT,
        REGISTERED + "|{ep}",
    ),
    "no-answer": _Say(
        Status.ERROR,
        "the proxy did not tell whether the phone answers ({text})",
        PROXY_HINT,
        "sip.proxy|{ep}|{why}",
    ),
}
ON_CONTACT["error"] = ON_CONTACT["no-answer"]
ON_REGISTERED = {
    "not-registered": _Say(
        Status.FAIL,
        "not registered (the proxy answers {text})",
        PROVISION_HINT,
        REGISTERED + "|{ep}",
    ),
    "error": _Say(
        Status.ERROR,
        "the proxy answers {text}, which does not tell",
        "see the proxy's log",
        "sip.proxy|{ep}|{code}",
    ),
    "no-answer": _Say(
        Status.ERROR, "the proxy could not be asked ({text})", PROXY_HINT, "sip.proxy|{ep}|{why}"
    ),
}


NO_CONTACT = _Say(Status.SKIP, f"no contact to ask (see {REGISTERED})")
REGISTERED_BY_PROXY = _Say(Status.PASS, "registered ({text})")
UNREADABLE = _Say(
    Status.ERROR,
    "could not read the registrations of {ep}: {error}",
    "check the registrar's management interface (the URL, that it answers ul.dump)",
    "sip.registrations|{ep}|{read}",
)


def _registration(probe: Probe[Any], extension: str, reg: _Registry) -> Iterator[Result]:
    """``sip.registered`` and ``sip.contact`` of one extension at one registrar."""
    registrar = reg.registrar
    target = f"{registrar.aor(extension)} via {registrar.ep_id}"
    fields = {"ep": registrar.ep_id, "text": "", "code": "", "why": "no-answer"}
    outcome = reg.asked.outcomes.get(extension)
    kind = "no-answer"
    if reg.asked.failure is not None:
        fields |= {"text": str(reg.asked.failure), "why": reg.asked.failure.code}
    elif outcome is not None:
        kind, code, text = contact_reply(outcome)
        fields |= {"text": text, "code": str(code or ""), "why": outcome.error or "no-answer"}

    def say(check: str, how: _Say, expected: str, **extra: Any) -> Result:
        observed = extra.pop("observed", None)
        return probe.result(
            how.status,
            f"{target}: {how.summary.format(**fields)}",
            check=check,
            target=target,
            expected=expected,
            observed=fields["text"] if observed is None else observed,
            impact=IMPACT,
            hint=how.hint,
            root_cause=how.cause.format(**fields),
            owner=reg.owner if how.status.bad else "",
            duration_ms=reg.ms,
            **extra,
        )

    registered: bool | None
    if isinstance(reg.contacts, ReadError):
        registered = None
        fields |= {"error": str(reg.contacts), "read": reg.contacts.code}
        yield say(REGISTERED, UNREADABLE, REGISTERED_EXPECTED, observed=fields["error"])
    elif reg.contacts is not None:
        found = reg.contacts.get(extension, [])
        registered = bool(found)
        yield _registered(say, found)
    else:
        how = ON_REGISTERED.get(kind, REGISTERED_BY_PROXY)
        registered = {Status.PASS: True, Status.FAIL: False}.get(how.status)
        yield say(REGISTERED, how, "a registration (the proxy finds a contact)")
    if registered is False:
        yield say(CONTACT, NO_CONTACT, CONTACT_EXPECTED)
        return
    details = (
        {
            "code": outcome.response.code if outcome.response else None,
            "sent": outcome.sent,
            "rtt_ms": round(outcome.rtt_ms or 0.0, 1),
        }
        if outcome is not None
        else {}
    )
    yield say(CONTACT, ON_CONTACT[kind], CONTACT_EXPECTED, details=details)


def _registered(say: Callable[..., Result], found: list[Contact]) -> Result:
    if not found:
        return say(
            REGISTERED,
            _Say(Status.FAIL, "not registered", PROVISION_HINT, REGISTERED + "|{ep}"),
            REGISTERED_EXPECTED,
            observed="no contact",
        )
    until = expiry_text(found)
    addresses = [c.address for c in found[:5] if c.address]
    return say(
        REGISTERED,
        _Say(Status.PASS, "registered"),
        REGISTERED_EXPECTED,
        observed=f"registered until {until}" if until else "the registrar lists it",
        details={"contacts": addresses, "expires": until} if addresses else {},
    )

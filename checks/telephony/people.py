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
from collections.abc import Iterator, Sequence
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

    @property
    def via_options(self) -> bool:
        return self.contacts is None


def run_people(
    probes: Sequence[Probe[Any]],
    ctx: RunContext,
    numbering: Numbering,
    registrars: dict[str, tuple[str, Sip]],
) -> Iterator[Result]:
    """Results of the per-person and per-extension probes of one batch."""
    people = [p for p in probes if isinstance(p.params, PersonParams)]
    registries = _ask_registrars(people, ctx, registrars)
    for probe in probes:
        if isinstance(probe.params, ExtensionParams):
            yield _unique(probe, numbering)
            continue
        person = ctx.inventory.staff_by_key.get(probe.subject)
        if person is None:
            continue
        yield from _plan(probe, person, numbering)
        extension = normalise(person.extension)
        if not extension:
            continue
        for ep_id in probe.params.registrars:
            yield from _registration(probe, extension, registries[ep_id])


def _ask_registrars(
    people: Sequence[Probe[Any]], ctx: RunContext, registrars: dict[str, tuple[str, Sip]]
) -> dict[str, _Registry]:
    out: dict[str, _Registry] = {}
    for ep_id in sorted({r for p in people for r in p.params.registrars}):
        owner, sip = registrars[ep_id]
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
                extensions = [
                    e for e in extensions if any(c.live(now) for c in contacts.get(e, ()))
                ]
        asked = registrar.ask(extensions)
        ms = (time.perf_counter() - started) * 1000 / max(1, len(extensions))
        out[ep_id] = _Registry(registrar, owner, contacts, asked, ms)
    return out


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


def _registration(probe: Probe[Any], extension: str, reg: _Registry) -> Iterator[Result]:
    registrar = reg.registrar
    aor = registrar.aor(extension)
    target = f"{aor} via {registrar.ep_id}"
    common: dict[str, Any] = {"target": target, "impact": IMPACT, "duration_ms": reg.ms}
    outcome = reg.asked.outcomes.get(extension)
    registered: bool | None
    if isinstance(reg.contacts, ReadError):
        registered = None
        yield probe.result(
            Status.ERROR,
            f"could not read the registrations of {registrar.ep_id}: {reg.contacts}",
            check=REGISTERED,
            expected="a registration that has not expired",
            observed=str(reg.contacts),
            hint="check the registrar's management interface (URL, credentials, that it "
            "answers ul.dump)",
            root_cause=f"sip.registrations|{registrar.ep_id}|{reg.contacts.code}",
            owner=reg.owner,
            **common,
        )
    elif reg.contacts is not None:
        found = reg.contacts.get(extension, [])
        registered = bool(found)
        yield _registered(probe, registrar.ep_id, found, reg.owner, common)
    else:
        registered, result = _registered_by_options(probe, registrar.ep_id, outcome, reg, common)
        yield result
    yield _contact(probe, registrar.ep_id, registered, outcome, reg, common)


def _registered(
    probe: Probe[Any], ep_id: str, found: list[Contact], owner: str, common: dict[str, Any]
) -> Result:
    expected = "a registration that has not expired"
    if not found:
        return probe.result(
            Status.FAIL,
            f"{common['target']}: not registered",
            check=REGISTERED,
            expected=expected,
            observed="no contact",
            hint="connect and provision the person's phone (or softphone) for this "
            "extension; the registrar has no contact for it",
            root_cause=f"{REGISTERED}|{ep_id}",
            owner=owner,
            **common,
        )
    until = expiry_text(found)
    addresses = [c.address for c in found[:5] if c.address]
    return probe.result(
        Status.PASS,
        f"{common['target']}: registered"
        + (f" ({len(addresses)} contact{'s' if len(addresses) > 1 else ''})" if addresses else ""),
        check=REGISTERED,
        expected=expected,
        observed=f"registered until {until}" if until else "the registrar lists it",
        details={"contacts": addresses, "expires": until} if addresses else {},
        **common,
    )


def _registered_by_options(
    probe: Probe[Any], ep_id: str, outcome: Any, reg: _Registry, common: dict[str, Any]
) -> tuple[bool | None, Result]:
    expected = "a registration (the proxy finds a contact)"
    if outcome is None or reg.asked.failure is not None or outcome.response is None:
        why = str(reg.asked.failure) if reg.asked.failure else (outcome.detail if outcome else "")
        cause = reg.asked.failure.code if reg.asked.failure else _why(outcome)
        return None, probe.result(
            Status.ERROR,
            f"{common['target']}: the proxy could not be asked ({why})",
            check=REGISTERED,
            expected=expected,
            observed=why,
            hint="check that the registrar's proxy answers OPTIONS from this machine",
            root_cause=f"sip.proxy|{ep_id}|{cause}",
            owner=reg.owner,
            **common,
        )
    kind, code, text = contact_reply(outcome)
    if kind == "not-registered":
        return False, probe.result(
            Status.FAIL,
            f"{common['target']}: not registered (the proxy answers {text})",
            check=REGISTERED,
            expected=expected,
            observed=text,
            hint="connect and provision the person's phone (or softphone) for this extension",
            root_cause=f"{REGISTERED}|{ep_id}",
            owner=reg.owner,
            **common,
        )
    if kind == "error":
        return None, probe.result(
            Status.ERROR,
            f"{common['target']}: the proxy answers {text}, which does not tell",
            check=REGISTERED,
            expected=expected,
            observed=text,
            hint="see the proxy's log",
            root_cause=f"sip.proxy|{ep_id}|{code}",
            owner=reg.owner,
            **common,
        )
    return True, probe.result(
        Status.PASS,
        f"{common['target']}: registered (the proxy forwards to a contact: {text})",
        check=REGISTERED,
        expected=expected,
        observed=text,
        **common,
    )


def _why(outcome: Any) -> str:
    """Why a transaction got no response: no-answer, refused, unreachable, closed."""
    return str(getattr(outcome, "error", "") or "no-answer")


def _contact(
    probe: Probe[Any],
    ep_id: str,
    registered: bool | None,
    outcome: Any,
    reg: _Registry,
    common: dict[str, Any],
) -> Result:
    expected = "the phone answers OPTIONS through the proxy"
    if registered is False:
        return probe.result(
            Status.SKIP,
            f"{common['target']}: no contact to ask (see {REGISTERED})",
            check=CONTACT,
            expected=expected,
            **common,
        )
    failure = reg.asked.failure
    if failure is not None or outcome is None:
        why = str(failure) if failure else "not asked"
        return probe.result(
            Status.ERROR,
            f"{common['target']}: the proxy could not be asked ({why})",
            check=CONTACT,
            expected=expected,
            observed=why,
            hint="check that the registrar's proxy answers OPTIONS from this machine",
            root_cause=f"sip.proxy|{ep_id}|{failure.code if failure else 'not-asked'}",
            owner=reg.owner,
            **common,
        )
    kind, code, text = contact_reply(outcome)
    details: dict[str, Any] = {
        "code": code,
        "sent": outcome.sent,
        "rtt_ms": round(outcome.rtt_ms or 0.0, 1),
    }
    if kind == "answers":
        return probe.result(
            Status.PASS,
            f"{common['target']}: the phone answers ({text})",
            check=CONTACT,
            expected=expected,
            observed=text,
            details=details,
            **common,
        )
    if kind in ("no-answer", "error"):
        return probe.result(
            Status.ERROR,
            f"{common['target']}: the proxy did not tell whether the phone answers ({text})",
            check=CONTACT,
            expected=expected,
            observed=text,
            hint="check that the registrar's proxy answers OPTIONS from this machine",
            root_cause=f"sip.proxy|{ep_id}|{code or _why(outcome)}",
            owner=reg.owner,
            details=details,
            **common,
        )
    if kind == "not-registered":
        return probe.result(
            Status.FAIL,
            f"{common['target']}: the proxy finds no registration ({text})",
            check=CONTACT,
            expected=expected,
            observed=text,
            hint="connect and provision the person's phone (or softphone) for this extension",
            root_cause=f"{REGISTERED}|{ep_id}",
            owner=reg.owner,
            details=details,
            **common,
        )
    return probe.result(
        Status.FAIL,
        f"{common['target']}: the phone does not answer ({text})",
        check=CONTACT,
        expected=expected,
        observed=text,
        hint="the registration is stale or the phone is unreachable from the proxy (NAT, "
        "firewall): restart the phone and check its network",
        root_cause=f"{CONTACT}|{ep_id}|{code}",
        owner=reg.owner,
        details=details,
        **common,
    )

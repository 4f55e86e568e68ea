"""The roll-up: results + the who-needs-what graph -> a :class:`SweepRecord`.

Per staff member in scope, every result about a subject the person depends on counts
(their own account, their site, the applications, resources, mail domains, phones and
directories they need), provided it speaks for their site (a probe giving another
site's view says nothing about them). Then:

* each **need** (account, mailbox, phone, each application and network resource) gets
  an outcome from the results that speak about it: a ``fail`` -> not ready, else an
  ``error`` -> unknown, else ready. It is *verified* only by a result of a family that
  declares it verifies that kind of need (a DNS answer alone never makes an application
  "ready"); without one it is *not verified*. Needs reached by logging in
  (applications, mailbox, network resources) also carry the account's outcome: a
  locked account stops payroll too, and says so;
* the **person** is not ready on any fail, unknown on any error, and also unknown when
  nothing was verified or a need was not verified: "ready" is never vacuous;
* failures sharing a root cause form one **blocker**, counted in people from the whole
  graph (never by the families, so the same fault reads the same under any filter).
  The sweep's own problems (its configuration, the servers it could not ask, a broken
  family: :class:`readiness.results.Origin`) come first, as until they are fixed the
  people they concern cannot be judged at all; then the estate's faults. Each group is
  ranked by the people it stops, whatever the status.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from readiness.family import CheckFamily
from readiness.inventory.inventory import Inventory
from readiness.inventory.models import Staff
from readiness.inventory.needs import DEPENDS_ON_ACCOUNT, NO_PERSON, NeedKind, need_kind
from readiness.record.model import (
    NOT_VERIFIED,
    Blocker,
    Coverage,
    NeedOutcome,
    PersonRecord,
    SiteInfo,
    SweepMeta,
    SweepRecord,
)
from readiness.record.nogc import paused_gc
from readiness.results import Origin, Result, Status, Verdict

__all__ = ["build"]

ACCOUNT = NeedKind.ACCOUNT.value
FAIL, ERROR = Status.FAIL, Status.ERROR
DEPENDS_ON = frozenset(kind.value for kind in DEPENDS_ON_ACCOUNT)


@cache
def _kind(key: str) -> str:
    """The kind of a need key ("application:payroll" -> "application"), once per key."""
    return need_kind(key).value


def _bad_worst_first(results: list[Result]) -> list[Result]:
    """The fail and error results, fail first, then by id (filtered before sorting: a
    person at 10,000 staff per organisation has hundreds of results, nearly all passes)."""
    return sorted(
        (r for r in results if r.status is FAIL or r.status is ERROR),  # Status.bad, inlined
        key=lambda r: (-r.status.severity, r.id),
    )


def _verdict(results: Sequence[Result]) -> Verdict:
    return Verdict.of({r.status for r in results})


def build(
    inventory: Inventory,
    staff: Sequence[Staff],
    results: Sequence[Result],
    meta: SweepMeta,
    families: Sequence[CheckFamily[Any]],
) -> SweepRecord:
    """The record of one sweep; ``families`` are the installed ones (their catalogues say
    which need a result about a person speaks about, and which needs they verify).
    It makes millions of objects and no cycles: the garbage collector is paused."""
    with paused_gc():
        return _build(inventory, staff, results, meta, families)


def _build(
    inventory: Inventory,
    staff: Sequence[Staff],
    results: Sequence[Result],
    meta: SweepMeta,
    families: Sequence[CheckFamily[Any]],
) -> SweepRecord:
    check_needs = {spec.id: spec.need for fam in families for spec in fam.checks}
    verifiers = {fam.name: frozenset(k.value for k in fam.verifies) for fam in families}
    ordered = tuple(sorted(results, key=lambda r: (r.subject, r.check, r.target, r.vantage)))
    by_subject: dict[str, list[Result]] = defaultdict(list)
    for result in ordered:
        by_subject[result.subject].append(result)
    view_cache: dict[tuple[str, str], list[Result]] = {}

    def speaking(subject: str, site_id: str) -> list[Result]:
        """The results about ``subject`` that speak for staff at ``site_id``."""
        key = (subject, site_id)
        found = view_cache.get(key)
        if found is None:
            site = inventory.sites.get(site_id)
            here = {"local", *(site.vantage_points if site else ())}
            found = [
                r
                for r in by_subject.get(subject, ())
                if (site_id in r.sites if r.sites else r.vantage in here)
            ]
            view_cache[key] = found
        return found

    people: list[PersonRecord] = []
    need_results: list[dict[str, bool]] = []
    for person in staff:
        needs = inventory.needs(person)
        per_need: dict[str, list[Result]] = {key: [] for key in needs.keys}
        mine: list[Result] = []
        for subject, subject_need in needs.subjects.items():
            for result in speaking(subject, person.site):
                if result.need == NO_PERSON:
                    continue  # about the object, for its owner: stops no one
                mine.append(result)
                key = result.need or subject_need
                if not key and subject == person.key:
                    kind = check_needs.get(result.check)
                    key = kind.value if kind else ""
                if key in per_need:
                    per_need[key].append(result)
        verified = {
            key: any(_kind(key) in verifiers.get(fam, ()) for fam in {r.family for r in own})
            for key, own in per_need.items()
        }
        need_results.append(verified)
        people.append(_person_record(person, mine, per_need, verified))
    return SweepRecord(
        meta=meta,
        organisations={org_id: org.name for org_id, org in inventory.organisations.items()},
        sites={
            site_id: SiteInfo(site.organisation, site.name)
            for site_id, site in inventory.sites.items()
        },
        results=ordered,
        people=tuple(people),
        blockers=tuple(_blockers(ordered, people)),
        coverage=_coverage(need_results),
    )


def _need_outcomes(
    per_need: Mapping[str, list[Result]], verified: Mapping[str, bool]
) -> list[NeedOutcome]:
    account = per_need.get(ACCOUNT, [])
    account_bad = _bad_worst_first(account)
    out = []
    for key, own in per_need.items():
        carried = account_bad if key != ACCOUNT and _kind(key) in DEPENDS_ON else []
        bad = _bad_worst_first(own)
        verdict = _verdict([*own, *carried])
        # Nothing wrong seen, but nothing that proves it either: "not verified".
        outcome = NOT_VERIFIED if verdict is Verdict.READY and not verified[key] else verdict.value
        out.append(NeedOutcome(key, outcome, tuple(r.id for r in [*bad, *carried])))
    return out


def _person_record(
    person: Staff,
    mine: list[Result],
    per_need: Mapping[str, list[Result]],
    verified: Mapping[str, bool],
) -> PersonRecord:
    bad = _bad_worst_first(mine)
    unverified = tuple(key for key, ok in verified.items() if not ok)
    verdict = _verdict(mine)
    if verdict is Verdict.READY and (not mine or unverified):
        verdict = Verdict.UNKNOWN  # nothing (or not everything) was verified
    return PersonRecord(
        key=person.key,
        id=person.id,
        organisation=person.organisation,
        site=person.site,
        name=person.name,
        username=person.username,
        mail=person.new_mail,
        roles=tuple(person.roles),
        tags=tuple(person.tags),
        verdict=verdict,
        reasons=tuple(r.id for r in bad),
        warnings=tuple(r.id for r in mine if r.status is Status.WARN),
        needs=tuple(_need_outcomes(per_need, verified)),
        unverified=unverified,
    )


def _blockers(results: Sequence[Result], people: Sequence[PersonRecord]) -> list[Blocker]:
    """Root causes of fail/error results: the sweep's own problems first, each group
    ranked by the number of people they stop."""
    by_id = {r.id: r for r in results if r.status.bad}
    affected: dict[str, set[str]] = defaultdict(set)
    orgs: dict[str, set[str]] = defaultdict(set)
    stopped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for person in people:
        for rid in person.reasons:
            cause = by_id[rid].root_cause
            affected[cause].add(person.key)
            orgs[cause].add(person.organisation)
        for outcome in person.needs:
            for rid in outcome.reasons:
                stopped[by_id[rid].root_cause][outcome.need].add(person.key)
    grouped: dict[str, list[Result]] = defaultdict(list)
    for result in by_id.values():
        grouped[result.root_cause].append(result)
    blockers = []
    for cause, members in grouped.items():
        worst = max(members, key=lambda r: (r.status.severity, r.id))
        blockers.append(
            Blocker(
                cause,
                worst.status,
                worst.check,
                worst.summary,
                worst.hint,
                worst.impact,
                worst.owner,
                len(affected.get(cause, ())),
                len(members),
                tuple(sorted(orgs.get(cause, ()))),
                {need: len(keys) for need, keys in sorted(stopped.get(cause, {}).items())},
                worst.origin or Origin.ESTATE.value,
            )
        )
    return sorted(blockers, key=lambda b: (not b.sweep, -b.people, -b.results, b.root_cause))


def _coverage(need_results: Sequence[Mapping[str, bool]]) -> dict[str, Coverage]:
    needed: dict[str, int] = defaultdict(int)
    verified: dict[str, int] = defaultdict(int)
    for per_need in need_results:
        kinds: dict[str, bool] = {}
        for key, ok in per_need.items():
            kind = _kind(key)
            kinds[kind] = kinds.get(kind, True) and ok
        for kind, ok in kinds.items():
            needed[kind] += 1
            verified[kind] += ok
    return {
        kind.value: Coverage(needed[kind.value], verified[kind.value])
        for kind in NeedKind
        if needed.get(kind.value)
    }

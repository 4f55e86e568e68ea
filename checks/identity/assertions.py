"""The per-person assertions, computed from the directory's snapshot without further
I/O: exists, usable, password, mail, extension, attributes, groups (one result each)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from readiness.family import Probe
from readiness.inventory.models import Staff
from readiness.results import Result, Status

from .check_ids import ATTRIBUTES, EXISTS, EXTENSION, GROUP, MAIL, PASSWORD, USABLE
from .config import Directory
from .evaluation import _POLICY_HINT, DirectoryEvaluation
from .snapshot import (
    MATCH_FIELD,
    Snapshot,
    _key_of,
    _mail_values,
    _match_attribute,
    _norm,
    _scope,
    _vals,
)

# Findings of an AccountState go to the check they belong to.
PASSWORD_CODES = frozenset({
    "must-change", "password-expired", "password-expired-grace", "grace-exhausted",
    "password-expiring", "password-not-required", "password-expires-before-go-live",
    "password-expires-soon-after-go-live",
})


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class PersonAssertions(DirectoryEvaluation):
    """One result per assertion about a person's entry in the snapshot."""

    def person(self, probe: Probe, person: Staff) -> Iterator[Result]:
        key = _key_of(self.d, person)
        where = f"{self.dir_id} ({self.d.url})"
        if not key:
            # An inventory gap, not a finding about the directory: could not find out.
            yield self._res(
                probe, EXISTS, Status.ERROR,
                f"{person.key} has no {MATCH_FIELD[self.d.match]} in the inventory, so its "
                f"account in {self.dir_id} could not be looked up",
                expected=f"a {MATCH_FIELD[self.d.match]} in the inventory", observed="empty",
                impact="whether this person can log in on Day 1 is unknown",
                hint=f"add the person's {MATCH_FIELD[self.d.match]} (`readiness validate` "
                     "names the record)",
                root_cause=f"{EXISTS}|{self.dir_id}|inventory")
            return
        rows = self.snap.find(key)
        match_attr = _match_attribute(self.d)
        if len(rows) > 1:
            dns = [self.snap.people[r][0] for r in rows]
            yield self._res(
                probe, EXISTS, Status.FAIL,
                f"{len(rows)} entries in {self.dir_id} have {match_attr}={key}",
                expected="exactly one entry", observed="; ".join(dns[:5]),
                impact="logins by this name are ambiguous and may reach the wrong account",
                hint="remove or rename the duplicate entries",
                root_cause=f"{EXISTS}|{self.dir_id}|duplicate")
            return
        if not rows:
            if self.snap.references:
                yield self._res(
                    probe, EXISTS, Status.ERROR,
                    f"{match_attr}={key} not found in {where}, but the directory referred part "
                    "of the search elsewhere",
                    expected=f"an entry with {match_attr}={key}",
                    observed=f"not found; referrals: {', '.join(self.snap.references[:3])}",
                    impact="whether this person can log in on Day 1 is unknown",
                    hint="point people_base at the server holding the entries",
                    root_cause=f"identity.directory|{self.dir_id}|referral")
                return
            hints = self._near_misses(person, key)
            yield self._res(
                probe, EXISTS, Status.FAIL,
                f"no account {match_attr}={key} in {where}",
                expected=f"an entry with {match_attr}={key} under "
                         f"{self.d.people_base or self.d.base_dn}",
                observed="not found" + (f"; near misses: {'; '.join(hints)}" if hints else ""),
                impact="the person cannot log in on Day 1",
                hint=("create the account" + (" or fix the inventory: " + "; ".join(hints)
                                              if hints else "")),
                root_cause=f"{EXISTS}|{self.dir_id}",
                details={"near_misses": hints})
            return
        dn, attrs = self.snap.people[rows[0]]
        yield self._res(probe, EXISTS, Status.PASS, f"{match_attr}={key} found in {where}",
                        expected=f"an entry with {match_attr}={key}", observed=dn)
        yield from self._usable(probe, dn, attrs)
        yield from self._mail(probe, person, attrs)
        yield from self._extension(probe, person, attrs)
        yield from self._attributes(probe, person, attrs)
        yield from self._groups(probe, person, dn)

    def _near_misses(self, person: Staff, key: str) -> list[str]:
        hints: list[str] = []
        candidates = [k for k in self.snap.index if abs(len(k) - len(key)) <= 2]
        for close in difflib.get_close_matches(key.lower(), candidates, n=3, cutoff=0.8):
            hints.append(f"similar {_match_attribute(self.d)} {close!r} "
                         f"({self.snap.people[self.snap.index[close][0]][0]})")
        for address in [person.new_mail, *person.old_mail]:
            for row in self.snap.by_mail.get(address.lower(), []) if address else ():
                hints.append(f"mail {address} is on {self.snap.people[row][0]}")
        directories: dict[str, Directory] = self.ctx.inventory.section("directories")
        for other_id, other in sorted(directories.items()):
            if other_id == self.dir_id or other.kind != self.d.kind or _scope(other, person):
                continue
            snap = self.fam._snapshot(other_id, self.ctx)
            if isinstance(snap, Snapshot):
                for row in snap.find(_key_of(other, person)):
                    hints.append(f"an entry {snap.people[row][0]} exists in {other_id} "
                                 f"({', '.join(other.organisations)})")
        return hints[:6]

    def _usable(self, probe: Probe, dn: str, attrs: Mapping[str, Any]) -> Iterator[Result]:
        state = self.state(dn, attrs)
        for check, label in ((USABLE, "account"), (PASSWORD, "password")):
            found = [f for f in state.findings
                     if (f.code in PASSWORD_CODES) == (check == PASSWORD)]
            unknown = state.lockout_unknown if check == USABLE else state.expiry_unknown
            if unknown and not any(f.severity == "fail" for f in found):
                # Never "usable" (nor "no lockout") when the policy could not be read.
                yield self._res(
                    probe, check, Status.ERROR,
                    f"could not determine whether the {label} of {dn} is usable at go-live: "
                    f"{unknown}", expected=f"{label} usable at go-live",
                    observed="; ".join([unknown, *(f"{f.code}: {f.observed}" for f in found)]),
                    impact="whether this person can log in on Day 1 is unknown",
                    hint=_POLICY_HINT[self.d.kind],
                    root_cause=f"{check}|{self.dir_id}|policy-unknown",
                    details={"codes": [f.code for f in found], "lockout_headroom": "unknown"})
                continue
            if not found:
                yield self._res(
                    probe, check, Status.PASS,
                    f"the {label} of {dn} is usable at go-live {self.go_live:%Y-%m-%d}",
                    expected=f"{label} usable at go-live", observed=state.observed or "ok",
                    details={"lockout_headroom": state.lockout_headroom})
                continue
            worst = next((f for f in found if f.severity == "fail"), found[0])
            yield self._res(
                probe, check, Status.FAIL if worst.severity == "fail" else Status.WARN,
                f"{dn}: " + "; ".join(f"{f.code}: {f.observed}" for f in found),
                expected=worst.expected or f"{label} usable at go-live",
                observed="; ".join(f.observed for f in found),
                impact=worst.impact, hint=worst.hint,
                root_cause=f"{check}|{self.dir_id}|{worst.code}",
                details={"codes": [f.code for f in found],
                         "lockout_headroom": state.lockout_headroom})

    def _mail(self, probe: Probe, person: Staff, attrs: Mapping[str, Any]) -> Iterator[Result]:
        inv = self.ctx.inventory
        org = inv.organisations.get(person.organisation)
        needs = inv.needs(person)
        new_domain = (org.mail_domains.new if org else None) or (
            _domain(person.new_mail) if person.new_mail else None)
        if not (person.new_mail or needs.mailbox or person.old_mail):
            return
        have = [v.lower() for v in _mail_values(self.d, attrs)]
        problems: list[str] = []
        expected: list[str] = []
        if person.new_mail:
            expected.append(person.new_mail)
            if person.new_mail.lower() not in have:
                problems.append(f"new address {person.new_mail} missing")
        elif new_domain and needs.mailbox:
            expected.append(f"an address @{new_domain}")
            if not any(_domain(v) == new_domain for v in have):
                problems.append(f"no address in {new_domain}")
        kept_missing = [o for o in person.old_mail if o.lower() not in have]
        if person.old_mail:
            expected.extend(f"old {o} kept" for o in person.old_mail)
            problems.extend(f"old address {o} not kept" for o in kept_missing)
        observed = ", ".join(have) if have else "no mail attribute"
        if not problems:
            yield self._res(probe, MAIL, Status.PASS, f"mail of {person.key} is as planned",
                            expected="; ".join(expected), observed=observed)
            return
        code = "mail-missing" if not have else "mail-wrong"
        yield self._res(
            probe, MAIL, Status.FAIL, f"mail of {person.key} in {self.dir_id}: "
            + "; ".join(problems),
            expected="; ".join(expected), observed=observed,
            impact="mail to the person's new address will bounce or not reach them on Day 1"
                   if any("new" in p or "no address" in p for p in problems) else
                   "mail sent to the person's old address will bounce after go-live",
            hint=f"set mail{'/proxyAddresses' if self.d.kind == 'ad' else ''} on the entry: "
                 + ", ".join(expected),
            root_cause=f"{MAIL}|{self.dir_id}|{code}")

    def _extension(self, probe: Probe, person: Staff,
                   attrs: Mapping[str, Any]) -> Iterator[Result]:
        needs = self.ctx.inventory.needs(person)
        if not person.extension and not needs.extension:
            return
        phones = _vals(attrs, "telephoneNumber")
        digits = ["".join(ch for ch in p if ch.isdigit()) for p in phones]
        if person.extension:
            ok = any(d.endswith(person.extension) for d in digits if d)
            expected = f"telephoneNumber ending in {person.extension}"
        else:
            ok = bool(phones)
            expected = "a telephoneNumber (the role needs an extension)"
        if ok:
            yield self._res(probe, EXTENSION, Status.PASS,
                            f"telephone extension of {person.key} is in {self.dir_id}",
                            expected=expected, observed=", ".join(phones))
            return
        yield self._res(
            probe, EXTENSION, Status.FAIL, f"telephone extension of {person.key} missing or "
            f"different in {self.dir_id}", expected=expected,
            observed=", ".join(phones) or "no telephoneNumber",
            impact="colleagues and the switchboard find a wrong or no number for the person",
            hint=f"set telephoneNumber on the entry ({expected})",
            root_cause=f"{EXTENSION}|{self.dir_id}")

    def _attributes(self, probe: Probe, person: Staff,
                    attrs: Mapping[str, Any]) -> Iterator[Result]:
        wanted = list(self.d.required_attributes)
        if not wanted and not person.attributes:
            return
        missing = [a for a in wanted if not _vals(attrs, a)]
        wrong = []
        for name, value in person.attributes.items():
            have = _vals(attrs, name)
            if value.lower() not in (h.lower() for h in have):
                wrong.append(f"{name}={value} (directory: {', '.join(have) or 'none'})")
        expected = ", ".join([*wanted, *(f"{k}={v}" for k, v in person.attributes.items())])
        if not missing and not wrong:
            yield self._res(probe, ATTRIBUTES, Status.PASS,
                            f"required attributes of {person.key} present", expected=expected,
                            observed="all present")
            return
        observed = "; ".join([*(f"{a} missing" for a in missing), *wrong])
        yield self._res(
            probe, ATTRIBUTES, Status.FAIL, f"{person.key} in {self.dir_id}: {observed}",
            expected=expected, observed=observed,
            impact="applications that read these attributes (provisioning, address book, "
                   "access rules) will treat the person wrongly on Day 1",
            hint="set the attributes on the entry", root_cause=f"{ATTRIBUTES}|{self.dir_id}")

    def _required_groups(self, person: Staff) -> list[str]:
        if not self.d.check_groups:
            return []
        needs = self.ctx.inventory.needs(person)
        groups: set[str] = set()
        for g in needs.groups:
            scope, sep, name = g.partition(":")
            if sep and "=" not in scope:  # "dir-id:group" applies to that directory only
                if scope == self.dir_id:
                    groups.add(name)
            else:
                groups.add(g)
        for app in needs.applications:
            groups.update(self.d.application_groups.get(app, ()))
        return sorted(groups)

    def _groups(self, probe: Probe, person: Staff, dn: str) -> Iterator[Result]:
        required = self._required_groups(person)
        if not required:
            return
        member_of = self.snap.groups_of(dn)
        for group in required:
            target = f"{probe.target}:{group}"
            gdn = self.snap.resolve_group(group)
            if gdn is None:
                yield self._res(
                    probe, GROUP, Status.FAIL, f"group {group} does not exist in {self.dir_id}",
                    target=target, expected=f"group {group} with {person.key} as member",
                    observed=f"no group named {group} under "
                             f"{self.d.groups_base or self.d.base_dn}",
                    impact=f"nobody who needs {group} gets the access it grants on Day 1",
                    hint=f"create group {group} (or fix the role's group name)",
                    root_cause=f"{GROUP}|{self.dir_id}|{group}|absent")
                continue
            if gdn in member_of:
                direct = gdn in self.snap.parents.get(_norm(dn), set())
                yield self._res(
                    probe, GROUP, Status.PASS,
                    f"{person.key} is a member of {group}"
                    + ("" if direct else " (through a nested group)"),
                    target=target, expected=f"member of {group}", observed=
                    "direct member" if direct else "nested member")
                continue
            direct_groups = sorted(self.snap.group_cn.get(g, g)
                                   for g in self.snap.parents.get(_norm(dn), ()))
            yield self._res(
                probe, GROUP, Status.FAIL, f"{person.key} is not a member of {group} in "
                f"{self.dir_id}", target=target, expected=f"member of {group} (directly or "
                "through nested groups)",
                observed=f"member of: {', '.join(direct_groups) or 'no groups'}",
                impact=f"the access {group} grants (applications, shares) is missing on Day 1",
                hint=f"add {dn} to {group} (or to a group nested in it)",
                root_cause=f"{GROUP}|{self.dir_id}|{group}")

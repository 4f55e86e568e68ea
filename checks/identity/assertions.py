"""The per-person assertions, computed from the directory's snapshot without further
I/O: exists, usable, password, mail, extension, attributes, groups (one result each)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from readiness.family import Probe
from readiness.inventory.models import Staff
from readiness.inventory.needs import NeedKind, need_key
from readiness.results import Result, Status

from .check_ids import ATTRIBUTES, EXISTS, EXTENSION, GROUP, MAIL, PASSWORD, USABLE
from .config import Directory
from .evaluation import _POLICY_HINT, DirectoryEvaluation
from .matching import hr_mismatch, in_other_directories, near_misses
from .reasons import account_reason
from .snapshot import (
    MATCH_FIELD,
    Snapshot,
    _key_of,
    _mail_values,
    _match_attribute,
    _norm,
    _vals,
)

# Findings of an AccountState go to the check they belong to.
PASSWORD_CODES = frozenset(
    {
        "must-change",
        "password-expired",
        "password-expired-grace",
        "grace-exhausted",
        "password-expiring",
        "password-not-required",
        "password-expires-before-go-live",
        "password-expires-soon-after-go-live",
        "password-rotates-before-go-live",
    }
)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class PersonAssertions:
    """One result per assertion about a person's entry in the snapshot."""

    def __init__(self, ev: DirectoryEvaluation) -> None:
        self.ev = ev

    def person(self, probe: Probe[Any], person: Staff) -> Iterator[Result]:
        key = _key_of(self.ev.d, person)
        where = f"{self.ev.dir_id} ({self.ev.d.url})"
        if not key:
            # An inventory gap, not a finding about the directory: could not find out.
            yield self.ev.result(
                probe,
                EXISTS,
                Status.ERROR,
                f"{person.key} has no {MATCH_FIELD[self.ev.d.match]} in the inventory, so its "
                f"account in {self.ev.dir_id} could not be looked up",
                expected=f"a {MATCH_FIELD[self.ev.d.match]} in the inventory",
                observed="empty",
                impact="whether this person can log in on Day 1 is unknown",
                hint=f"add the person's {MATCH_FIELD[self.ev.d.match]} (`readiness validate` "
                "names the record)",
                root_cause=f"{EXISTS}|{self.ev.dir_id}|inventory",
            )
            return
        rows = self.ev.snap.find(key)
        match_attr = _match_attribute(self.ev.d)
        if len(rows) > 1:
            dns = [self.ev.snap.people[r][0] for r in rows]
            yield self.ev.result(
                probe,
                EXISTS,
                Status.FAIL,
                f"{len(rows)} entries in {self.ev.dir_id} have {match_attr}={key}",
                expected="exactly one entry",
                observed="; ".join(dns[:5]),
                impact="logins by this name are ambiguous and may reach the wrong account",
                hint="remove or rename the duplicate entries",
                reason=f"{len(rows)} accounts in {self.ev.dir_id} answer to the same "
                f"{MATCH_FIELD[self.ev.d.match]} {key}",
                root_cause=f"{EXISTS}|{self.ev.dir_id}|duplicate",
            )
            return
        if not rows:
            if self.ev.snap.references:
                yield self.ev.result(
                    probe,
                    EXISTS,
                    Status.ERROR,
                    f"{match_attr}={key} not found in {where}, but the directory referred part "
                    "of the people base elsewhere",
                    expected=f"an entry with {match_attr}={key}",
                    observed=f"not found; referrals: {', '.join(self.ev.snap.references[:3])}",
                    impact="whether this person can log in on Day 1 is unknown",
                    hint="point people_base at the server holding the entries",
                    root_cause=f"identity.directory|{self.ev.dir_id}|referral",
                )
                return
            hints = self._near_misses(person)
            yield self.ev.result(
                probe,
                EXISTS,
                Status.FAIL,
                f"no account {match_attr}={key} in {where}",
                expected=f"an entry with {match_attr}={key} under "
                f"{self.ev.d.people_base or self.ev.d.base_dn}",
                observed="not found" + (f"; near misses: {'; '.join(hints)}" if hints else ""),
                impact="the person cannot log in on Day 1",
                reason=f"no account in {self.ev.dir_id} for the "
                f"{MATCH_FIELD[self.ev.d.match]} {key}",
                hint=(
                    "create the account"
                    + (
                        ", or check whether one of these is the person's: " + "; ".join(hints)
                        if hints
                        else ""
                    )
                ),
                root_cause=f"{EXISTS}|{self.ev.dir_id}",
                details={"near_misses": hints},
            )
            return
        dn, attrs = self.ev.snap.people[rows[0]]
        mismatch = hr_mismatch(self.ev.d, person, attrs)
        if mismatch:
            yield self.ev.result(
                probe,
                EXISTS,
                Status.WARN,
                f"{match_attr}={key} found in {where}, but the entry disagrees with the HR "
                "record: " + "; ".join(mismatch),
                expected=f"the entry with {match_attr}={key} describes the HR record's person",
                observed=f"{dn}; " + "; ".join(mismatch),
                impact="the account found may belong to someone else, or HR and the "
                "directory disagree: a login or a mail may reach the wrong person",
                hint="check the entry belongs to this person, then correct the HR record or "
                "the directory entry",
                root_cause=f"{EXISTS}|{self.ev.dir_id}|hr-mismatch",
                details={"codes": ["hr-mismatch"], "mismatch": mismatch},
            )
        else:
            yield self.ev.result(
                probe,
                EXISTS,
                Status.PASS,
                f"{match_attr}={key} found in {where}",
                expected=f"an entry with {match_attr}={key}",
                observed=dn,
            )
        yield from self._usable(probe, dn, attrs)
        yield from self._mail(probe, person, attrs)
        yield from self._extension(probe, person, attrs)
        yield from self._attributes(probe, person, attrs)
        yield from self._groups(probe, person, dn)

    def _near_misses(self, person: Staff) -> list[str]:
        directories = self.ev.ctx.inventory.section("directories", Directory)
        others = {}
        for other_id in in_other_directories(self.ev.d, self.ev.dir_id, person, directories):
            snap = self.ev.snapshot_of(other_id)
            if isinstance(snap, Snapshot):
                others[other_id] = (directories[other_id], snap)
        return near_misses(self.ev.snap, person, others)

    def _usable(self, probe: Probe[Any], dn: str, attrs: Mapping[str, Any]) -> Iterator[Result]:
        state = self.ev.state(dn, attrs)
        for check, label in ((USABLE, "account"), (PASSWORD, "password")):
            found = [f for f in state.findings if (f.code in PASSWORD_CODES) == (check == PASSWORD)]
            unknown = state.lockout_unknown if check == USABLE else state.expiry_unknown
            if unknown and not any(f.severity == "fail" for f in found):
                # Never "usable" (nor "no lockout") when the policy could not be read.
                yield self.ev.result(
                    probe,
                    check,
                    Status.ERROR,
                    f"could not determine whether the {label} of {dn} is usable at go-live: "
                    f"{unknown}",
                    expected=f"{label} usable at go-live",
                    observed="; ".join([unknown, *(f"{f.code}: {f.observed}" for f in found)]),
                    impact="whether this person can log in on Day 1 is unknown",
                    hint=_POLICY_HINT[self.ev.d.kind],
                    root_cause=f"{check}|{self.ev.dir_id}|policy-unknown",
                    details={"codes": [f.code for f in found], "lockout_headroom": "unknown"},
                )
                continue
            if not found:
                yield self.ev.result(
                    probe,
                    check,
                    Status.PASS,
                    f"the {label} of {dn} is usable at go-live {self.ev.go_live:%Y-%m-%d}",
                    expected=f"{label} usable at go-live",
                    observed=state.observed or "ok",
                    details={"lockout_headroom": state.lockout_headroom},
                )
                continue
            worst = next((f for f in found if f.severity == "fail"), found[0])
            yield self.ev.result(
                probe,
                check,
                Status.FAIL if worst.severity == "fail" else Status.WARN,
                f"{dn}: " + "; ".join(f"{f.code}: {f.observed}" for f in found),
                expected=worst.expected or f"{label} usable at go-live",
                observed="; ".join(f.observed for f in found),
                impact=worst.impact,
                hint=worst.hint,
                reason=account_reason(found, self.ev.dir_id),
                root_cause=f"{check}|{self.ev.dir_id}|{worst.code}",
                details={
                    "codes": [f.code for f in found],
                    "lockout_headroom": state.lockout_headroom,
                },
            )

    def _mail(self, probe: Probe[Any], person: Staff, attrs: Mapping[str, Any]) -> Iterator[Result]:
        inv = self.ev.ctx.inventory
        org = inv.organisations.get(person.organisation)
        needs = inv.needs(person)
        new_domain = (org.mail_domains.new if org else None) or (
            _domain(person.new_mail) if person.new_mail else None
        )
        if not (person.new_mail or needs.mailbox or person.old_mail):
            return
        have = [v.lower() for v in _mail_values(self.ev.d, attrs)]
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
            yield self.ev.result(
                probe,
                MAIL,
                Status.PASS,
                f"mail of {person.key} is as planned",
                expected="; ".join(expected),
                observed=observed,
            )
            return
        code = "mail-missing" if not have else "mail-wrong"
        yield self.ev.result(
            probe,
            MAIL,
            Status.FAIL,
            f"mail of {person.key} in {self.ev.dir_id}: " + "; ".join(problems),
            expected="; ".join(expected),
            observed=observed,
            impact="mail to the person's new address will bounce or not reach them on Day 1"
            if any("new" in p or "no address" in p for p in problems)
            else "mail sent to the person's old address will bounce after go-live",
            reason=f"mail addresses not set up in {self.ev.dir_id}: " + "; ".join(problems),
            hint=f"set mail{'/proxyAddresses' if self.ev.d.kind == 'ad' else ''} on the entry: "
            + ", ".join(expected),
            root_cause=f"{MAIL}|{self.ev.dir_id}|{code}",
        )

    def _extension(
        self, probe: Probe[Any], person: Staff, attrs: Mapping[str, Any]
    ) -> Iterator[Result]:
        needs = self.ev.ctx.inventory.needs(person)
        if not person.extension and not needs.phone:
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
            yield self.ev.result(
                probe,
                EXTENSION,
                Status.PASS,
                f"telephone extension of {person.key} is in {self.ev.dir_id}",
                expected=expected,
                observed=", ".join(phones),
            )
            return
        yield self.ev.result(
            probe,
            EXTENSION,
            Status.FAIL,
            f"telephone extension of {person.key} missing or different in {self.ev.dir_id}",
            expected=expected,
            observed=", ".join(phones) or "no telephoneNumber",
            impact="colleagues and the switchboard find a wrong or no number for the person",
            reason=f"the phone extension is missing or different in {self.ev.dir_id}",
            hint=f"set telephoneNumber on the entry ({expected})",
            root_cause=f"{EXTENSION}|{self.ev.dir_id}",
        )

    def _attributes(
        self, probe: Probe[Any], person: Staff, attrs: Mapping[str, Any]
    ) -> Iterator[Result]:
        wanted = list(self.ev.d.required_attributes)
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
            yield self.ev.result(
                probe,
                ATTRIBUTES,
                Status.PASS,
                f"required attributes of {person.key} present",
                expected=expected,
                observed="all present",
            )
            return
        observed = "; ".join([*(f"{a} missing" for a in missing), *wrong])
        yield self.ev.result(
            probe,
            ATTRIBUTES,
            Status.FAIL,
            f"{person.key} in {self.ev.dir_id}: {observed}",
            expected=expected,
            observed=observed,
            impact="applications that read these attributes (provisioning, address book, "
            "access rules) will treat the person wrongly on Day 1",
            hint="set the attributes on the entry",
            reason=f"account details missing or wrong in {self.ev.dir_id}: {observed}",
            root_cause=f"{ATTRIBUTES}|{self.ev.dir_id}",
        )

    def _required_groups(self, person: Staff) -> dict[str, str]:
        """group -> the need it serves: ``application:<id>`` for a group that only an
        application needs (its entitlement), else the account's."""
        if not self.ev.d.check_groups:
            return {}
        needs = self.ev.ctx.inventory.needs(person)
        groups: dict[str, str] = {}
        for app in sorted(needs.applications):
            for group in self.ev.d.application_groups.get(app, ()):
                groups.setdefault(group, need_key(NeedKind.APPLICATION, app))
        for g in needs.groups:
            scope, sep, name = g.partition(":")
            if sep and "=" not in scope:  # "dir-id:group" applies to that directory only
                if scope == self.ev.dir_id:
                    groups[name] = ""
            else:
                groups[g] = ""
        return dict(sorted(groups.items()))

    def _groups(self, probe: Probe[Any], person: Staff, dn: str) -> Iterator[Result]:
        required = self._required_groups(person)
        if not required:
            return
        member_of = self.ev.snap.groups_of(dn)
        for group, need in required.items():
            target = f"{probe.target}:{group}"
            gdn = self.ev.snap.resolve_group(group)
            if gdn is None:
                yield self.ev.result(
                    probe,
                    GROUP,
                    Status.FAIL,
                    f"group {group} does not exist in {self.ev.dir_id}",
                    target=target,
                    need=need,
                    expected=f"group {group} with {person.key} as member",
                    observed=f"no group named {group} under "
                    f"{self.ev.d.groups_base or self.ev.d.base_dn}",
                    impact=f"nobody who needs {group} gets the access it grants on Day 1",
                    hint=f"create group {group} (or fix the role's group name)",
                    reason=f"the group {group} the person needs does not exist in {self.ev.dir_id}",
                    root_cause=f"{GROUP}|{self.ev.dir_id}|{group}|absent",
                )
                continue
            if gdn in member_of:
                direct = gdn in self.ev.snap.parents.get(_norm(dn), set())
                yield self.ev.result(
                    probe,
                    GROUP,
                    Status.PASS,
                    f"{person.key} is a member of {group}"
                    + ("" if direct else " (through a nested group)"),
                    target=target,
                    need=need,
                    expected=f"member of {group}",
                    observed="direct member" if direct else "nested member",
                )
                continue
            direct_groups = sorted(
                self.ev.snap.group_cn.get(g, g) for g in self.ev.snap.parents.get(_norm(dn), ())
            )
            yield self.ev.result(
                probe,
                GROUP,
                Status.FAIL,
                f"{person.key} is not a member of {group} in {self.ev.dir_id}",
                target=target,
                need=need,
                expected=f"member of {group} (directly or through nested groups)",
                observed=f"member of: {', '.join(direct_groups) or 'no groups'}",
                impact=f"the access {group} grants (applications, shares) is missing on Day 1",
                hint=f"add {dn} to {group} (or to a group nested in it)",
                reason=f"not in the group {group} in {self.ev.dir_id}"
                + (f", which gives access to {need.partition(':')[2]}" if need else ""),
                root_cause=f"{GROUP}|{self.ev.dir_id}|{group}",
            )

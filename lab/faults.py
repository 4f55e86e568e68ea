"""The seeded fault switch: which staff and services get which Day-1 fault.

:func:`choose` is pure (estate + seed -> :class:`FaultPlan`); every lab module asks
the plan what to break when it builds its server::

    plan = choose(estate)
    plan.person_fault("north-ldap", person)   # 'account-locked' or None
    plan.of_kind(APP_503)                    # [Fault(subject='applications:payroll', ...)]
    plan.write(state_dir)                    # <state>/ground-truth.json

Each person carries at most one fault and pilots, service accounts and shared
mailboxes are never chosen, so the ground truth is unambiguous. ``Fault.check`` is
the check id the finding family is expected to report, ``status`` the status it
should give (``fail``; ``warn`` for must-change) and ``result_prefix``
(``subject|check``) the start of the result ids it would produce
(:func:`readiness.results.result_id`: ``subject|check|target|vantage``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from .estate import INTERNET, UNTRUSTED_VANTAGE, Estate, Organisation, Person, ascii_fold

# Fault kinds: (family, check id it should be found by).
ACCOUNT_MISSING = "account-missing"
ACCOUNT_DISABLED = "account-disabled"
ACCOUNT_LOCKED = "account-locked"
PASSWORD_EXPIRED = "password-expired"  # noqa: S105 (a fault name)
PASSWORD_MUST_CHANGE = "password-must-change"  # noqa: S105
GROUP_MISSING = "group-missing"
MAIL_MISSING = "mail-missing"
MAIL_WRONG_DOMAIN = "mail-wrong-domain"
MAILBOX_REJECTED = "mailbox-rejected"
EXTENSION_UNREGISTERED = "extension-unregistered"
CERT_EXPIRED = "cert-expired"
CERT_WRONG_HOST = "cert-wrong-host"
APP_503 = "app-503"
DMARC_MISSING = "dmarc-missing"
SPF_MISSING_SHARED = "spf-missing-shared"
SIP_ENDPOINT_DOWN = "sip-endpoint-down"
FLOW_BLOCKED = "flow-blocked"
CERT_UNKNOWN_CA = "cert-unknown-ca"
CERT_EXPIRING = "cert-expiring-soon"
DKIM_WEAK = "dkim-weak"
MAILBOX_GREYLISTED = "mailbox-greylisted"
RESOURCE_EXPOSED = "resource-exposed"
EXTENSION_COLLISION = "extension-collision"
EXTENSION_OUT_OF_RANGE = "extension-out-of-range"
DIRECTORY_NUMBER_MISMATCH = "directory-number-mismatch"
SIP_ENDPOINT_503 = "sip-endpoint-503"
SIP_CERT_WRONG_HOST = "sip-cert-wrong-host"
# The directory entry still carries the person's previous surname (and username): the
# HR export has moved on. Found by employee number, reported as a mismatch.
HR_MISMATCH = "hr-mismatch"
# A jump host handed over without its host keys: the sweep refuses it until they are
# trusted (`readiness vantage trust`). Only with namespaces (no jump hosts otherwise).
VANTAGE_UNTRUSTED = "vantage-untrusted"

# kind -> (family, check id that should find it, expected status of that result)
KINDS: dict[str, tuple[str, str, str]] = {
    ACCOUNT_MISSING: ("identity", "identity.account-exists", "fail"),
    ACCOUNT_DISABLED: ("identity", "identity.account-usable", "fail"),
    ACCOUNT_LOCKED: ("identity", "identity.account-usable", "fail"),
    PASSWORD_EXPIRED: ("identity", "identity.password-valid", "fail"),
    # Must-change is normal for a new account: a warning, not a blocker.
    PASSWORD_MUST_CHANGE: ("identity", "identity.password-valid", "warn"),
    GROUP_MISSING: ("identity", "identity.group-member", "fail"),
    MAIL_MISSING: ("identity", "identity.mail-attribute", "fail"),
    MAIL_WRONG_DOMAIN: ("identity", "identity.mail-attribute", "fail"),
    MAILBOX_REJECTED: ("mail", "mail.rcpt-accepted", "fail"),
    EXTENSION_UNREGISTERED: ("telephony", "sip.registered", "fail"),
    CERT_EXPIRED: ("applications", "tls.certificate-valid", "fail"),
    CERT_WRONG_HOST: ("applications", "tls.certificate-name", "fail"),
    APP_503: ("applications", "http.status", "fail"),
    DMARC_MISSING: ("mail", "mail.dmarc", "fail"),
    SPF_MISSING_SHARED: ("mail", "mail.spf", "fail"),
    SIP_ENDPOINT_DOWN: ("telephony", "sip.options", "fail"),
    FLOW_BLOCKED: ("network", "network.tcp-connect", "fail"),
    CERT_UNKNOWN_CA: ("applications", "tls.certificate-chain", "fail"),
    # Valid at go-live, but fewer days left after it than the inventory's minimum.
    CERT_EXPIRING: ("applications", "tls.certificate-valid", "fail"),
    # A 1024-bit DKIM key still signs: a warning, not a blocker.
    DKIM_WEAK: ("mail", "mail.dkim", "warn"),
    # Greylisting (450 twice) says nothing about the mailbox: we could not find out.
    MAILBOX_GREYLISTED: ("mail", "mail.rcpt-accepted", "error"),
    # An internal resource the perimeter lets the internet reach (lab/internet.py).
    RESOURCE_EXPOSED: ("network", "network.exposure", "fail"),
    # One extension given to a person of each organisation (the second one's number
    # is then also outside its organisation's range): telephony's merged plan.
    EXTENSION_COLLISION: ("telephony", "sip.extension-unique", "fail"),
    EXTENSION_OUT_OF_RANGE: ("telephony", "sip.extension-range", "fail"),
    # The directory's telephoneNumber disagrees with the inventory: both families judge
    # against the inventory, and the identity family reads the directory.
    DIRECTORY_NUMBER_MISMATCH: ("identity", "identity.extension", "fail"),
    SIP_ENDPOINT_503: ("telephony", "sip.options", "fail"),
    SIP_CERT_WRONG_HOST: ("telephony", "tls.certificate-name", "fail"),
    HR_MISMATCH: ("identity", "identity.account-exists", "warn"),
    VANTAGE_UNTRUSTED: ("network", "network.vantage-login", "fail"),
}
# Specialist applications with a fixed certificate fault (not in the seeded draw).
FIXED_APP_FAULTS = {"planning": CERT_UNKNOWN_CA, "fleet": CERT_EXPIRING}
# Faults injected per person into an organisation's OpenLDAP directory.
LDAP_KINDS = (
    ACCOUNT_MISSING,
    ACCOUNT_DISABLED,
    ACCOUNT_LOCKED,
    PASSWORD_EXPIRED,
    PASSWORD_MUST_CHANGE,
    GROUP_MISSING,
    MAIL_MISSING,
    MAIL_WRONG_DOMAIN,
)
# Faults injected per migrated person into the shared AD (an expired password is a
# pwdLastSet back-dated past maxPwdAge, written before the DC starts: lab/samba.py).
AD_KINDS = (
    ACCOUNT_MISSING,
    ACCOUNT_DISABLED,
    ACCOUNT_LOCKED,
    PASSWORD_MUST_CHANGE,
    GROUP_MISSING,
    PASSWORD_EXPIRED,
)
SMALL = 40
LEGACY_SELECTOR = "legacy2019"  # the old mail platforms' DKIM selector (lab/dns.py)
WRONG_HOST = "wrong-host.valeshared.test"  # the name lab/web.py's wrong certificate has
# Surnames people had before a change HR knows about and the directory does not.
PREVIOUS_SURNAMES = ("Fairbairn", "Lindqvist", "Castellano", "Okonkwo", "Duvall", "Brannigan")


@dataclass(frozen=True)
class Fault:
    kind: str
    subject: str  # staff:north/N00007, applications:payroll, mail_domains:southmere.test, ...
    target: str = ""  # where it is injected: a directory id, a host name, a domain ...
    vantage: str = ""  # for flows: the vantage point the fault shows from
    details: tuple[tuple[str, str], ...] = field(default=())

    @property
    def family(self) -> str:
        return KINDS[self.kind][0]

    @property
    def check(self) -> str:
        return KINDS[self.kind][1]

    @property
    def status(self) -> str:
        """The status the finding check is expected to give (fail, or warn)."""
        return KINDS[self.kind][2]

    @property
    def result_prefix(self) -> str:
        return f"{self.subject}|{self.check}"

    def detail(self, key: str, default: str = "") -> str:
        return dict(self.details).get(key, default)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "family": self.family,
            "subject": self.subject,
            "check": self.check,
            "status": self.status,
            "result_prefix": self.result_prefix,
            "target": self.target,
        }
        if self.vantage:
            out["vantage"] = self.vantage
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass(frozen=True)
class FaultPlan:
    staff_per_org: int
    seed: int
    faults: tuple[Fault, ...]

    def of_kind(self, *kinds: str) -> list[Fault]:
        return [f for f in self.faults if f.kind in kinds]

    @cached_property
    def _by_subject(self) -> dict[str, list[Fault]]:
        index: dict[str, list[Fault]] = {}
        for f in self.faults:
            index.setdefault(f.subject, []).append(f)
        return index

    def for_subject(self, subject: str) -> list[Fault]:
        return list(self._by_subject.get(subject, ()))

    def in_target(self, target: str) -> list[Fault]:
        return [f for f in self.faults if f.target == target]

    def person_fault(self, target: str, person: Person) -> str | None:
        """The fault kind injected for ``person`` into ``target`` (a directory id,
        ``mail`` or ``sip``), or None."""
        for f in self._by_subject.get(person.key, ()):
            if f.target == target:
                return f.kind
        return None

    def to_json(self) -> dict[str, object]:
        counts: dict[str, int] = {}
        for f in self.faults:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return {
            "staff_per_org": self.staff_per_org,
            "seed": self.seed,
            "counts": dict(sorted(counts.items())),
            "faults": [f.to_json() for f in self.faults],
        }

    def write(self, state_dir: Path) -> Path:
        """Write ``<state>/ground-truth.json`` (stable bytes for a given plan)."""
        path = state_dir / "ground-truth.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return path


def observed(plan: FaultPlan, results: Iterable[Mapping[str, Any]]) -> dict[Fault, list[str]]:
    """Which injected faults a sweep saw: fault -> ids of results (from results.json) that
    start with its ``result_prefix`` and have its expected status (or worse)."""
    order = {"pass": 0, "skip": 1, "warn": 2, "error": 3, "fail": 4}
    by_prefix: dict[str, list[str]] = {}
    for r in results:
        subject_check = "|".join(str(r["id"]).split("|")[:2])
        by_prefix.setdefault(subject_check, []).append(f"{r['status']} {r['id']}")
    out: dict[Fault, list[str]] = {}
    for f in plan.faults:
        hits = [
            h
            for h in by_prefix.get(f.result_prefix, [])
            if order[h.split(" ", 1)[0]] >= order[f.status]
        ]
        out[f] = [h.split(" ", 1)[1] for h in hits]
    return out


def load(state_dir: Path) -> FaultPlan:
    """Read a ground-truth file written by :meth:`FaultPlan.write`."""
    raw = json.loads((state_dir / "ground-truth.json").read_text(encoding="utf-8"))
    faults = tuple(
        Fault(
            f["kind"],
            f["subject"],
            f.get("target", ""),
            f.get("vantage", ""),
            tuple(f.get("details", {}).items()),
        )
        for f in raw["faults"]
    )
    return FaultPlan(raw["staff_per_org"], raw["seed"], faults)


def choose(estate: Estate, seed: int | None = None, enabled: bool = True) -> FaultPlan:
    """Decide every fault for ``estate`` (``seed`` defaults to the estate's)."""
    seed = estate.seed if seed is None else seed
    if not enabled:
        return FaultPlan(estate.staff_per_org, seed, ())
    rng = random.Random(f"{seed}:faults")
    per_org = max(1, estate.staff_per_org // 100)
    used: set[str] = set()
    faults: list[Fault] = []

    def eligible(people: Iterable[Person]) -> list[Person]:
        return [p for p in people if p.kind == "staff" and not p.pilot and p.key not in used]

    def pick(pool: list[Person], n: int) -> list[Person]:
        chosen = rng.sample(pool, min(n, len(pool)))
        chosen.sort(key=lambda p: p.key)
        used.update(p.key for p in chosen)
        return chosen

    # Identity faults in the shared AD (migrated staff only).
    ad = next(d for d in estate.directories if d.kind == "ad")
    n_ad = max(1, len(estate.migrated) // 60)
    for kind in AD_KINDS:
        for p in pick(eligible(estate.migrated), n_ad):
            faults.append(_person_fault(kind, p, ad.id))
    # Identity faults in each organisation's OpenLDAP.
    # Small estates (under SMALL staff per organisation) get one fault of each kind in
    # all, alternating between the organisations, so that every kind can still occur.
    small = estate.staff_per_org < SMALL
    for i, kind in enumerate(LDAP_KINDS):
        for org in _orgs_for(estate, i, small):
            pool = eligible(estate.people_of(org.id))
            if kind in (MAIL_MISSING, MAIL_WRONG_DOMAIN):
                pool = [p for p in pool if p.new_mail]
            for p in pick(pool, per_org):
                faults.append(_person_fault(kind, p, org.directory_id))
    # Mail and telephony faults per person.
    for org in _orgs_for(estate, 0, small):
        people = estate.people_of(org.id)
        for p in pick([p for p in eligible(people) if p.new_mail], per_org):
            faults.append(
                Fault(MAILBOX_REJECTED, p.key, "mail", details=(("address", p.new_mail),))
            )
    for org in _orgs_for(estate, 1, small):
        people = estate.people_of(org.id)
        for p in pick([p for p in eligible(people) if p.extension], per_org):
            faults.append(
                Fault(EXTENSION_UNREGISTERED, p.key, "sip", details=(("extension", p.extension),))
            )
    # Applications: three different applications, one fault each (the SSO one stays up).
    apps = sorted(a.id for a in estate.applications if not a.sso and a.seeded)
    rng.shuffle(apps)
    for kind, app_id in zip((CERT_EXPIRED, CERT_WRONG_HOST, APP_503), apps, strict=False):
        app = next(a for a in estate.applications if a.id == app_id)
        details: tuple[tuple[str, str], ...] = ()
        if kind == CERT_WRONG_HOST:
            details = (("presented_name", WRONG_HOST),)
        faults.append(Fault(kind, f"applications:{app.id}", app.host, details=details))
    # DNS: one old domain without DMARC, the other's SPF without the shared mail server.
    domains = [o.domain for o in estate.organisations]
    rng.shuffle(domains)
    faults.append(Fault(DMARC_MISSING, f"mail_domains:{domains[0]}", f"_dmarc.{domains[0]}"))
    faults.append(
        Fault(
            SPF_MISSING_SHARED,
            f"mail_domains:{domains[1]}",
            domains[1],
            details=(("missing", "mail.valeshared.test"),),
        )
    )
    # Telephony: one legacy PBX does not answer.
    endpoint = rng.choice(sorted(e.id for e in estate.sip_endpoints))
    ep = next(e for e in estate.sip_endpoints if e.id == endpoint)
    faults.append(
        Fault(
            SIP_ENDPOINT_DOWN,
            f"telephony_endpoints:{ep.id}",
            ep.host,
            details=(("address", f"{ep.ip}:{ep.port}"),),
        )
    )
    # Network: a cross-site flow blocked one way by the router's firewall.
    faults.append(_flow_fault(estate, rng))
    for app in estate.applications:
        if app.id in FIXED_APP_FAULTS:
            faults.append(Fault(FIXED_APP_FAULTS[app.id], f"applications:{app.id}", app.host))
    # Mail, drawn last so that earlier choices stay as they were: an old platform's DKIM
    # selector with a 1024-bit key, and one mailbox behind greylisting.
    weak = rng.choice(sorted(o.domain for o in estate.organisations))
    faults.append(Fault(DKIM_WEAK, f"mail_domains:{weak}", f"{LEGACY_SELECTOR}._domainkey.{weak}"))
    boxed = {r.id for r in estate.roles if r.mailbox}
    for p in pick([p for p in eligible(estate.staff) if p.new_mail and boxed & set(p.roles)], 1):
        faults.append(Fault(MAILBOX_GREYLISTED, p.key, "mail", details=(("address", p.new_mail),)))
    # Last, so that adding it changed no earlier draw.
    faults.append(_exposure_fault(estate, rng))
    # Telephony (drawn after everything above, which stays as it was): the same
    # organisation's carrier SBC left in maintenance (503) with a certificate for
    # another name; an extension held in both organisations; a directory number that
    # disagrees with the inventory.
    for sbc in (s for s in estate.sbcs if s.organisation == ep.organisation):
        subject = f"telephony_endpoints:{sbc.id}"
        faults.append(Fault(SIP_ENDPOINT_503, subject, sbc.host, details=(("code", "503"),)))
        faults.append(
            Fault(SIP_CERT_WRONG_HOST, subject, sbc.host, details=(("presented_name", WRONG_HOST),))
        )
    holders = [
        pick([p for p in eligible(estate.people_of(o.id)) if p.extension], 1)
        for o in estate.organisations[:2]
    ]
    if all(holders):
        (kept,), (moved,) = holders
        faults.append(
            Fault(
                EXTENSION_COLLISION,
                f"extensions:{kept.extension}",
                "plan",
                details=(("holders", f"{kept.key} {moved.key}"), ("moved", moved.key)),
            )
        )
        faults.append(
            Fault(
                EXTENSION_OUT_OF_RANGE,
                moved.key,
                "plan",
                details=(("extension", kept.extension), ("was", moved.extension)),
            )
        )
    org = _orgs_for(estate, 0, small)[-1]
    for p in pick([p for p in eligible(estate.people_of(org.id)) if p.extension], 1):
        typo = p.extension[:-1] + str((int(p.extension[-1]) + 1) % 10)
        faults.append(
            Fault(
                DIRECTORY_NUMBER_MISMATCH,
                p.key,
                org.directory_id,
                details=(("extension", p.extension), ("directory", typo)),
            )
        )
    # Last, so that adding it changed no earlier draw (it draws from its own seed).
    faults += _renamed(estate, seed, per_org, eligible)
    faults.append(
        Fault(VANTAGE_UNTRUSTED, f"vantage_points:{UNTRUSTED_VANTAGE}", UNTRUSTED_VANTAGE)
    )
    return FaultPlan(estate.staff_per_org, seed, tuple(faults))


def with_faults(estate: Estate, plan: FaultPlan) -> Estate:
    """The estate as the faults leave it: the inventory data they change (an extension
    handed to a second person) applied, so every server and the inventory agree."""
    moved = {
        f.detail("moved"): f.subject.removeprefix("extensions:")
        for f in plan.of_kind(EXTENSION_COLLISION)
    }
    if not moved:
        return estate
    people = tuple(
        replace(p, extension=moved[p.key]) if p.key in moved else p for p in estate.people
    )
    return replace(estate, people=people)


def _renamed(
    estate: Estate, seed: int, n: int, eligible: Callable[[Iterable[Person]], list[Person]]
) -> list[Fault]:
    """Entries HR has renamed but the directory has not (previous surname, previous
    username), where people are found by employee number: the HR username no longer
    finds them. Chosen last, with their own random stream, so every other fault stays
    where it was."""
    rng = random.Random(f"{seed}:renamed")
    out = []
    for d in estate.directories:
        if d.match != "employee_number":
            continue
        taken = {p.username for p in estate.people_of(d.organisations[0])}
        pool = eligible(estate.people_of(d.organisations[0]))
        for p in sorted(rng.sample(pool, min(n, len(pool))), key=lambda p: p.key):
            previous = rng.choice(PREVIOUS_SURNAMES)
            uid = base = ascii_fold(p.given[0] + previous)[:18]
            number = 1
            while uid in taken:
                number += 1
                uid = f"{base}{number}"
            taken.add(uid)
            details = (("username", uid), ("surname", previous), ("hr_username", p.username))
            out.append(Fault(HR_MISMATCH, p.key, d.id, details=details))
    return out


def _orgs_for(estate: Estate, index: int, small: bool) -> tuple[Organisation, ...]:
    orgs = estate.organisations
    return (orgs[index % len(orgs)],) if small else orgs


def _person_fault(kind: str, person: Person, directory: str) -> Fault:
    details: list[tuple[str, str]] = [
        ("username", person.ad_username or person.username)
        if directory == "shared-ad"
        else ("username", person.username)
    ]
    if kind == GROUP_MISSING:
        # The first application group the person needs (never all-staff).
        group = next(g for g in person.groups if g.startswith("app-"))
        details.append(("group", group))
    if kind == MAIL_WRONG_DOMAIN:
        details.append(("mail", person.old_mail[0] if person.old_mail else ""))
    return Fault(kind, person.key, directory, details=tuple(details))


def _flow_fault(estate: Estate, rng: random.Random) -> Fault:
    """Block a resource one site needs at another site, from the needing site's side."""
    candidates: list[tuple[str, str]] = []
    for role in estate.roles:
        for res_id in role.network_resources:
            res = next(r for r in estate.resources if r.id == res_id)
            if res.organisation != role.organisation:
                hq = next(
                    s for s in estate.sites if s.organisation == role.organisation and s.namespace
                )
                candidates.append((hq.id, res.id))
    site_id, res_id = rng.choice(sorted(set(candidates)))
    site = estate.site(site_id)
    res = next(r for r in estate.resources if r.id == res_id)
    return Fault(
        FLOW_BLOCKED,
        f"network_resources:{res.id}",
        f"{res.host}:{res.port}",
        vantage=site.vantage_point or "local",
        details=(
            ("src_net", site.subnet or ""),
            ("dst", res.ip),
            ("fallback_dst", res.fallback_ip),
            ("port", str(res.port)),
            ("from_site", site.id),
        ),
    )


def _exposure_fault(estate: Estate, rng: random.Random) -> Fault:
    """An internal resource the internet reaches: a hole in the router's perimeter.
    Only with namespaces (the loopback fallback has no internet to reach from)."""
    res = estate.resources[rng.randrange(len(estate.resources))]
    return Fault(
        RESOURCE_EXPOSED,
        f"network_resources:{res.id}",
        f"{res.host}:{res.port}",
        vantage=INTERNET,
        details=(("dst", res.ip), ("port", str(res.port))),
    )

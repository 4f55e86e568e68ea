"""Pure logic of matching people to entries (no server): the HR record against the entry
found, the plausible near misses for a missing person, which continuation references
can hide a person. The real directories are in test_estates_lab.py."""

from __future__ import annotations

from typing import Any

from readiness.inventory.models import Staff
from readiness.net.certificates import CHECKS
from readiness_checks.identity.check_ids import TLS_CHECKS
from readiness_checks.identity.config import Directory
from readiness_checks.identity.matching import hr_mismatch, near_misses
from readiness_checks.identity.snapshot import (
    Snapshot,
    _lowered,
    _may_hold_people,
    fold,
    ref_dn,
    server_identity,
)

BASE = "dc=northvale,dc=test"
PEOPLE = f"ou=people,{BASE}"


def directory(**kw: Any) -> Directory:
    fields: dict[str, Any] = {
        "kind": "openldap",
        "url": "ldaps://ldap.northvale.test",
        "base_dn": BASE,
        "people_base": PEOPLE,
        "bind_dn": f"cn=readiness,{BASE}",
        "bind_password": "file:x",
        **kw,
    }
    return Directory(**fields)


def entry(uid: str, given: str, sn: str, number: str = "", *mail: str) -> tuple[str, Any]:
    attrs = {"uid": [uid], "givenName": [given], "sn": [sn], "cn": [f"{given} {sn}"]}
    if number:
        attrs["employeeNumber"] = [number]
    if mail:
        attrs["mail"] = list(mail)
    return f"uid={uid},{PEOPLE}", _lowered(attrs)


def snapshot(d: Directory, *entries: tuple[str, Any], dir_id: str = "north-ldap") -> Snapshot:
    snap = Snapshot(dir_id, d, people=list(entries))
    for row, (_, attrs) in enumerate(snap.people):
        for value in attrs.get("uid", []):
            snap.index.setdefault(value.lower(), []).append(row)
        for value in attrs.get("mail", []):
            snap.by_mail.setdefault(value.lower(), []).append(row)
    return snap


def person(**kw: Any) -> Staff:
    return Staff(**{"id": "N1", "organisation": "north", "site": "hq", **kw})


FATIMA = person(name="Fatima Taylor", username="fatima.taylor", employee_number="E42")


def test_near_misses_are_plausible_and_say_why() -> None:
    snap = snapshot(
        directory(),
        entry("fatima.hill", "Fatima", "Hill"),  # spelt alike: never suggested
        entry("ftaylor", "Fatima", "Taylor"),  # the same name
        entry("f.taylor2", "Farah", "Taylor"),  # initial and surname
        entry("jtaylor", "John", "Taylor"),  # surname only (few share it)
        entry("fatimat", "Fatima", "Tailor", "E42"),  # her employee number
    )
    hints = near_misses(snap, FATIMA, {})
    assert not any("fatima.hill" in h for h in hints)
    assert hints[0] == (
        f"uid=fatimat,{PEOPLE}: carries the person's employee number E42: the uid may have changed"
    )
    assert f"uid=ftaylor,{PEOPLE}: Fatima Taylor: the same name" in hints
    assert f"uid=f.taylor2,{PEOPLE}: Farah Taylor: the same given-name initial and surname" in hints
    assert f"uid=jtaylor,{PEOPLE}: John Taylor: the same surname" in hints


def test_a_common_surname_alone_suggests_nobody() -> None:
    many = [entry(f"x{i}", name, "Taylor") for i, name in enumerate(["Ann", "Bo", "Cy", "Di"])]
    assert near_misses(snapshot(directory(), *many), FATIMA, {}) == []


def test_multi_word_surnames_and_accents_match() -> None:
    snap = snapshot(directory(), entry("anibhriain2", "Aoife", "Ní Bhriain"))
    aoife = person(name="Aoife Ni Bhriain", username="anibhriain")
    (hint,) = near_misses(snap, aoife, {})
    assert hint.endswith("Aoife Ní Bhriain: the same name")
    assert fold("Ó Súilleabháin,  O'Brien") == "o suilleabhain o brien"


def test_the_other_organisations_directory_is_suggested_with_why() -> None:
    south = directory(base_dn="dc=southmere,dc=test", organisations=["south"])
    other = snapshot(south, entry("fatima.taylor", "Fatima", "Taylor"), dir_id="south-ldap")
    (hint,) = near_misses(snapshot(directory()), FATIMA, {"south-ldap": (south, other)})
    assert hint.startswith("in south-ldap (south) uid=fatima.taylor,")
    assert "the same username fatima.taylor: the account may be in the other organisation" in hint


def test_matched_by_employee_number_the_username_is_a_hint() -> None:
    d = directory(match="employee_number")
    snap = snapshot(d, entry("fatima.taylor", "Fatima", "Taylor", "E99"))
    (hint,) = near_misses(snap, FATIMA, {})
    assert "has the person's username fatima.taylor under another employee number" in hint


def test_hr_mismatch_by_name_then_by_mail() -> None:
    d = directory(match="employee_number")
    renamed = entry("fbrown", "Fatima", "Brown", "E42", "f.brown@northvale.test")[1]
    assert hr_mismatch(d, FATIMA, renamed) == ["name: HR 'Fatima Taylor', directory 'Fatima Brown'"]
    same = entry("ftaylor", "Fátima", "Taylor", "E42")[1]
    assert hr_mismatch(d, FATIMA, same) == []  # accents and case do not matter
    # No name on the HR side: the addresses decide; none shared is a mismatch...
    nameless = person(username="x", new_mail="x@valeshared.test")
    other_mail = entry("x", "X", "Y", "N1", "someone@valeshared.test")[1]
    assert hr_mismatch(d, nameless, other_mail) == [
        "mail: HR x@valeshared.test, directory someone@valeshared.test"
    ]
    # ... a missing mail attribute is the mail check's finding, not a mismatch.
    assert hr_mismatch(d, nameless, entry("x", "X", "Y")[1]) == []


def test_only_people_search_references_under_the_people_base_count() -> None:
    ad = "OU=Staff,DC=ad,DC=valeshared,DC=test"
    config = "ldaps://ad.valeshared.test/CN=Configuration,DC=ad,DC=valeshared,DC=test"
    dns = "ldap://ad.valeshared.test/DC=DomainDnsZones,DC=ad,DC=valeshared,DC=test"
    assert ref_dn(config) == "CN=Configuration,DC=ad,DC=valeshared,DC=test"
    assert not _may_hold_people(config, "DC=ad,DC=valeshared,DC=test", ad=True)
    assert not _may_hold_people(dns, "DC=ad,DC=valeshared,DC=test", ad=True)
    assert _may_hold_people(f"ldap://dc2/OU=North,{ad}", ad, ad=True)
    assert not _may_hold_people("ldap://other/ou=x,dc=elsewhere", ad, ad=True)
    assert _may_hold_people("not a url", ad, ad=False)  # unreadable: it may
    assert _may_hold_people("ldap://replica/", PEOPLE, ad=False)  # the same base elsewhere


def test_server_identity_ignores_what_the_inventory_calls_things() -> None:
    d = directory(base_dn=PEOPLE)  # an inventory using a subtree as its base
    dse = {"namingcontexts": ["dc=southmere,dc=test", BASE]}
    assert server_identity(d, dse, "10.0.0.1") == f"ldap:10.0.0.1/{BASE}"
    assert server_identity(directory(), dse, "10.0.0.1") == f"ldap:10.0.0.1/{BASE}"
    ad = directory(kind="ad", base_dn="OU=Staff,DC=ad,DC=valeshared,DC=test")
    nc = {"defaultnamingcontext": ["DC=ad,DC=valeshared,DC=test"]}
    assert server_identity(ad, nc, "10.0.0.2") == "ad:dc=ad,dc=valeshared,dc=test"


def test_directory_defaults_for_services() -> None:
    assert directory().srv_domain == "northvale.test" and directory().srv_wanted == []
    ad = directory(kind="ad", base_dn="DC=ad,DC=valeshared,DC=test")
    assert ad.srv_domain == "ad.valeshared.test" and ad.srv_wanted == ["ldap", "kerberos"]
    assert ad.employee_attribute == "employeeID"
    assert directory().employee_attribute == "employeeNumber"
    assert TLS_CHECKS == CHECKS  # the catalogue names the certificate module's checks

"""Fixes from the identity family's code review, proven against the real test slapd
(unknown lockout policy, in-flight attempts of other sweeps, groupOfUniqueNames, bind
result codes, URLs and password attributes in an inventory of it: marked
``integration``) and, for pure logic, without a server."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterable
from pathlib import Path

import ldap3
import pytest
from pydantic import ValidationError

from readiness.family import PlanContext, Probe, RunContext
from readiness.inventory import Inventory, InventoryError
from readiness.ledger import AttemptLedger, Outcome
from readiness.results import Result, Status
from readiness_checks.identity import IdentityFamily
from readiness_checks.identity.ad import BIND_DIAGNOSTICS
from readiness_checks.identity.assertions import PASSWORD_CODES
from readiness_checks.identity.check_ids import PILOT
from readiness_checks.identity.client import DirectoryError, Endpoint
from readiness_checks.identity.config import Directory
from readiness_checks.identity.evaluation import DirectoryEvaluation
from readiness_checks.identity.family import InDirectory
from readiness_checks.identity.pilot import PilotLogin
from readiness_checks.identity.snapshot import Snapshot, _member_dn, fetch, people_attributes

from .conftest import (
    PILOT_PASSWORD,
    IdentityLab,
    by_id,
    load_inventory,
    north_key,
    write_inventory,
)

NORTH = "directories:north-ldap"
NORTH_DIR_LINE = "    owner: Northvale identity team\n"


def _sweep_only(inventory: Inventory, state_dir: Path, uids: Iterable[str]) -> dict[str, Result]:
    """Plan and run the identity family for a few north people only (so these tests
    spend no attempts on accounts other tests count)."""
    keys = {f"staff:north/{u.replace('.', '-')}" for u in uids}
    fam = IdentityFamily()
    probes = [
        p
        for p in fam.plan(PlanContext(inventory, inventory.staff, inventory.go_live))
        if p.subject in keys and p.target == NORTH
    ]
    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inventory.root,
        state_dir=state_dir,
    )
    try:
        return by_id(list(fam.run(probes, ctx)))
    finally:
        ctx.close()


def _get(results: dict[str, Result], uid: str, check: str) -> Result:
    return results[f"staff:north/{uid.replace('.', '-')}|identity.{check}|{NORTH}"]


def _rewrite(folder: Path, old: str, new: str, count: int = -1) -> None:
    path = folder / "inventory.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")


# ------------------------------------------------------------ 1: unknown lockout policy


@pytest.mark.integration  # the real test slapd
def test_unknown_default_policy_refuses_the_pilot_and_is_an_error(
    identity_lab: IdentityLab,
) -> None:
    # default_policy names an entry that is not there: the lockout policy of every
    # account without pwdPolicySubentry is UNKNOWN, which is not "no lockout".
    folder = write_inventory(identity_lab, "unknown-policy")
    _rewrite(folder, "default_policy: cn=default,", "default_policy: cn=missing,")
    state = identity_lab.root / "sweep-unknown-policy"
    results = _sweep_only(load_inventory(folder), state, ["healthy", "lockedhard", "pilot.ok"])

    usable = _get(results, "healthy", "account-usable")
    assert usable.status == Status.ERROR, usable
    assert "could not determine" in usable.summary and "cn=missing" in usable.summary
    assert "read access" in usable.hint and "default_policy" in usable.hint
    assert _get(results, "healthy", "password-valid").status == Status.ERROR
    # An entry whose own pwdPolicySubentry is readable is still judged.
    assert _get(results, "lockedhard", "account-usable").status == Status.FAIL

    pilot = _get(results, "pilot.ok", "pilot-login")
    assert pilot.status == Status.ERROR, pilot
    assert "lockout headroom is unknown" in pilot.summary and "read access" in pilot.hint
    with AttemptLedger(state / "ledger.sqlite") as ledger:  # nothing was sent
        history = ledger.history(*north_key(identity_lab, "pilot.ok"))
        assert [h.outcome for h in history] == [Outcome.NOT_SENT]
        assert history[0].label == "north-ldap/pilot.ok"
    for r in results.values():
        assert PILOT_PASSWORD not in repr(r.to_json())


# ------------------------------------------------ 2: other sweeps' attempts in flight


@pytest.mark.integration  # the real test slapd
def test_other_sweeps_in_flight_attempts_reduce_the_headroom(identity_lab: IdentityLab) -> None:
    # pilot.ok has 3 attempts of headroom on the server (pwdMaxFailure 3); min_headroom 2.
    inventory = load_inventory(write_inventory(identity_lab, "in-flight", budget=5))
    state = identity_lab.root / "sweep-in-flight"
    now = dt.datetime.now(dt.UTC)
    key = north_key(identity_lab, "pilot.ok")
    with AttemptLedger(state / "ledger.sqlite") as ledger:
        ledger.reserve(*key, now=now, sweep="other-sweep-1")
    ok = _get(_sweep_only(inventory, state, ["pilot.ok"]), "pilot.ok", "pilot-login")
    assert ok.status == Status.PASS, ok  # 3 - 1 in flight = 2: allowed

    with AttemptLedger(state / "ledger.sqlite") as ledger:
        ledger.reserve(*key, now=now, sweep="other-sweep-2")
    refused = _get(_sweep_only(inventory, state, ["pilot.ok"]), "pilot.ok", "pilot-login")
    assert refused.status == Status.ERROR, refused  # 3 - 2 in flight = 1 < 2
    assert "2 attempt(s) other sweeps have in flight" in refused.summary
    with AttemptLedger(state / "ledger.sqlite") as ledger:
        outcomes = [h.outcome for h in ledger.history(*key)]
    assert sorted(outcomes) == sorted(
        [Outcome.PENDING, Outcome.PENDING, Outcome.SUCCESS, Outcome.NOT_SENT]
    )


# ---------------------------------------------------------------- 4: groupOfUniqueNames


@pytest.mark.integration  # the real test slapd
def test_group_of_unique_names_members_are_read(identity_lab: IdentityLab, tmp_path: Path) -> None:
    lab = identity_lab.north
    group_dn = f"cn=app-unique,{lab.groups_base}"
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(identity_lab.ca.cert_path))
    admin = ldap3.Connection(
        ldap3.Server(lab.host, port=389, tls=tls),
        lab.admin_dn,
        lab.admin_password_file.read_text().strip(),
    )
    admin.open()
    assert admin.start_tls() and admin.bind(), admin.result
    assert admin.add(
        group_dn,
        ["groupOfUniqueNames"],
        {
            "cn": "app-unique",
            "uniqueMember": [
                f"uid=nogroup,{lab.people_base}#'0101'B",  # optional UID suffix
                f"cn=housing-team,{lab.groups_base}",
            ],
        },
    ), admin.result
    try:
        inventory = load_inventory(write_inventory(identity_lab, "unique"))
        directory = inventory.section("directories", Directory)["north-ldap"]
        ctx = RunContext(
            inventory,
            go_live=inventory.go_live,
            clock=lambda: dt.datetime.now(dt.UTC),
            secrets_dir=inventory.root,
            state_dir=tmp_path,
        )
        try:
            snap = fetch("north-ldap", directory, ctx)
        finally:
            ctx.close()
        unique = snap.resolve_group("app-unique")
        assert unique == group_dn.lower()
        assert unique in snap.groups_of(f"uid=nogroup,{lab.people_base}")  # direct
        assert unique in snap.groups_of(f"uid=nested,{lab.people_base}")  # via housing-team
        assert unique not in snap.groups_of(f"uid=healthy,{lab.people_base}")
    finally:
        admin.delete(group_dn)
        admin.unbind()


def test_unique_member_suffix_is_stripped() -> None:
    assert _member_dn("uid=a,dc=x#'0101'B") == "uid=a,dc=x"
    assert _member_dn("uid=a,dc=x") == "uid=a,dc=x"
    assert _member_dn("cn=odd#'name'B,dc=x#'1'B") == "cn=odd#'name'B,dc=x"


# ------------------------------------------------------------ 3: password codes routing


def test_ad_password_expiry_codes_are_password_findings() -> None:
    assert {
        "password-expires-before-go-live",
        "password-expires-soon-after-go-live",
        "password-expired",
    } <= PASSWORD_CODES
    assert "must-change" in PASSWORD_CODES and BIND_DIAGNOSTICS


# ---------------------------------------------------------- 5: bind results, match keys


@pytest.mark.integration  # the real test slapd
@pytest.mark.parametrize(
    ("code", "status"),
    [
        (49, Status.FAIL),
        (53, Status.FAIL),
        (51, Status.ERROR),
        (52, Status.ERROR),
        (80, Status.ERROR),
        (-1, Status.ERROR),
        (13, Status.ERROR),
    ],
)
def test_only_a_judged_credential_is_fail(
    identity_lab: IdentityLab, tmp_path: Path, code: int, status: Status
) -> None:
    inventory = load_inventory(write_inventory(identity_lab))
    directory = inventory.section("directories", Directory)["north-ldap"]
    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inventory.root,
        state_dir=tmp_path,
    )
    try:
        ev = DirectoryEvaluation(
            "north-ldap",
            directory,
            Snapshot("north-ldap", directory),
            ctx,
            snapshot_of=lambda other: RuntimeError(other),
        )
        probe = Probe("identity", PILOT, "staff:north/pilot-ok", NORTH, InDirectory("north-ldap"))
        reservation = ctx.ledger.reserve("north-ldap", "pilot.ok", sweep="t")
        (result,) = PilotLogin(ev)._bind_result(
            probe,
            reservation,
            "uid=pilot.ok",
            {"result": code, "description": "x", "message": ""},
            "3 attempt(s) left before the directory locks the account",
        )
        assert result.status == status, result
        if status == Status.ERROR:
            assert "unknown" in result.impact
        # The bind reached the server either way: it is charged, never retried.
        assert ctx.ledger.failures("north-ldap", "pilot.ok") == 1
    finally:
        ctx.close()


@pytest.mark.integration  # the real test slapd
def test_empty_match_key_is_a_validation_problem(identity_lab: IdentityLab) -> None:
    folder = write_inventory(identity_lab, "match-upn")
    _rewrite(folder, NORTH_DIR_LINE, NORTH_DIR_LINE + "    match: upn\n", 1)
    with pytest.raises(InventoryError) as err:
        load_inventory(folder)
    problems = [p for p in err.value.problems if "has no upn" in p.message]
    assert problems and "north-ldap" in problems[0].message
    assert "inventory.yaml:" in problems[0].where and problems[0].where.split(":")[-1].isdigit()


# --------------------------------------------------------------------- 6: bad URLs


@pytest.mark.integration  # the real test slapd
@pytest.mark.parametrize(
    "url", ["ldaps://{north}:99999", "ldaps://[::1", "ldap://h:port", "ldaps://h:0"]
)
def test_unparseable_url_is_reported_with_its_line(identity_lab: IdentityLab, url: str) -> None:
    north = identity_lab.hosts.north
    url = url.format(north=north)
    folder = write_inventory(identity_lab, "bad-url")
    _rewrite(folder, f"url: ldap://{north}:389\n", f"url: {url}\n", 1)
    with pytest.raises(InventoryError) as err:
        load_inventory(folder)
    (problem,) = err.value.problems
    assert "url" in problem.message and "could not validate" not in problem.message
    assert "inventory.yaml:" in problem.where and problem.where.split(":")[-1].isdigit()
    with pytest.raises(DirectoryError):
        Endpoint.parse(url)


def test_directory_model_rejects_unparseable_urls() -> None:
    base = {"kind": "openldap", "base_dn": "dc=x", "bind_dn": "cn=s,dc=x", "bind_password": "env:X"}
    assert Directory.model_validate({**base, "url": "ldaps://[::1]:636"}).url
    for url in ("ldaps://h:99999", "ldaps://[::1"):
        with pytest.raises(ValidationError):
            Directory.model_validate({**base, "url": url})


# -------------------------------------------------------------- 7: password attributes


@pytest.mark.integration  # the real test slapd
def test_password_attributes_are_rejected_and_never_requested(identity_lab: IdentityLab) -> None:
    folder = write_inventory(identity_lab, "secret-attrs")
    _rewrite(
        folder,
        NORTH_DIR_LINE,
        NORTH_DIR_LINE + "    required_attributes: [employeeNumber, userPassword]\n",
        1,
    )
    _rewrite(
        folder,
        "  - id: healthy\n",
        "  - id: healthy\n    attributes: {sambaNTPassword: abc, departmentNumber: x}\n",
        1,
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(folder)
    text = {p.message: p.where for p in err.value.problems}
    assert len(text) == 2, text
    for name in ("'userPassword'", "'sambaNTPassword'"):
        (where,) = [w for m, w in text.items() if name in m and "password material" in m]
        assert "inventory.yaml:" in where and where.split(":")[-1].isdigit()
    base = {
        "kind": "ad",
        "url": "ldaps://dc",
        "base_dn": "dc=x",
        "bind_dn": "cn=s,dc=x",
        "bind_password": "env:X",
        "required_attributes": ["unicodePwd", "dBCSPwd", "employeeID"],
    }
    asked = {
        a.lower()
        for a in people_attributes(
            Directory.model_validate(base), ["supplementalCredentials", "userPKCS12;binary"]
        )
    }
    assert "employeeid" in asked
    assert not asked & {
        "unicodepwd",
        "dbcspwd",
        "supplementalcredentials",
        "userpkcs12;binary",
        "userpassword",
    }

"""The identity family against real slapd directories (ppolicy lockout, memberof, TLS)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from readiness.family import PlanContext
from readiness.inventory import Inventory
from readiness.results import Result, Status
from readiness_checks.identity import IdentityFamily
from readiness_checks.identity.client import OPERATIONS

from .conftest import (
    PILOT_PASSWORD,
    IdentityLab,
    by_id,
    load_inventory,
    north_key,
    sweep,
    write_inventory,
)

pytestmark = pytest.mark.integration

NORTH = "directories:north-ldap"


@pytest.fixture(scope="module")
def inventory(identity_lab: IdentityLab) -> Inventory:
    return load_inventory(write_inventory(identity_lab))


@pytest.fixture(scope="module")
def results(identity_lab: IdentityLab, inventory: Inventory) -> dict[str, Result]:
    return by_id(sweep(inventory, identity_lab.root / "sweep-main"))


def get(results: dict[str, Result], uid: str, check: str, target: str = NORTH) -> Result:
    return results[f"staff:north/{uid.replace('.', '-')}|identity.{check}|{target}"]


@pytest.mark.parametrize(
    ("uid", "check", "status", "needle"),
    [
        ("ghost", "account-exists", Status.FAIL, "create the account"),
        ("disabled", "account-usable", Status.FAIL, "000001010000Z"),
        ("lockedhard", "account-usable", Status.FAIL, "pwdLockoutDuration 0"),
        ("lockedtemp", "account-usable", Status.WARN, "before go-live"),
        ("notyet", "account-usable", Status.FAIL, "pwdStartTime"),
        ("ended", "account-usable", Status.FAIL, "pwdEndTime"),
        ("mustchange", "password-valid", Status.WARN, "pwdReset TRUE"),
        ("expiring", "password-valid", Status.WARN, "before go-live"),  # normal rotation
        ("graceused", "password-valid", Status.FAIL, "grace logins used up"),
        ("nogroup", "group-member", Status.FAIL, "app-housing"),
        ("nomail", "mail-attribute", Status.FAIL, "no mail attribute"),
        ("wrongmail", "mail-attribute", Status.FAIL, "wrongmail@valeshared.test missing"),
        ("oldmaildropped", "mail-attribute", Status.FAIL, "not kept"),
        ("noext", "extension", Status.FAIL, "4100"),
    ],
)
def test_every_fault_is_found_with_a_hint(
    results: dict[str, Result], uid: str, check: str, status: Status, needle: str
) -> None:
    target = NORTH + ":app-housing" if check == "group-member" else NORTH
    r = get(results, uid, check, target)
    assert r.status == status, r
    text = " ".join([r.summary, r.observed, r.expected, r.hint])
    assert needle in text, r
    assert r.hint and r.impact and r.owner == "Northvale identity team"
    assert r.root_cause.startswith(f"identity.{check}|north-ldap")


@pytest.mark.parametrize("uid", ["healthy", "nested", "oldlock", "nolockpol", "pilot.ok"])
def test_healthy_accounts_pass(results: dict[str, Result], uid: str) -> None:
    mine = [
        r
        for key, r in results.items()
        if key.startswith(f"staff:north/{uid.replace('.', '-')}|") and r.target.startswith(NORTH)
    ]
    checks = {r.check for r in mine}
    assert {
        "identity.account-exists",
        "identity.account-usable",
        "identity.password-valid",
        "identity.mail-attribute",
        "identity.extension",
        "identity.group-member",
    } <= checks
    assert all(r.status == Status.PASS for r in mine), [r for r in mine if r.status != "pass"]


def test_traps(results: dict[str, Result]) -> None:
    # An expired lock is not a lock; a lock only counts under pwdLockout TRUE.
    assert get(results, "oldlock", "account-usable").status == Status.PASS
    assert get(results, "nolockpol", "account-usable").status == Status.PASS
    # Nested membership counts.
    nested = get(results, "nested", "group-member", NORTH + ":app-housing")
    assert nested.status == Status.PASS and "nested" in nested.summary
    # Expiry is judged at go-live: "expiring" is valid today (checked by a bind below),
    # and will be changed when the person is prompted before go-live (normal rotation).
    assert get(results, "expiring", "password-valid").status == Status.WARN


def test_expiry_judged_at_go_live_not_today(identity_lab: IdentityLab) -> None:
    """The 'expiring' account's password works today (a real bind succeeds)."""
    env = {**os.environ, "LDAPTLS_CACERT": str(identity_lab.ca.cert_path)}
    out = subprocess.run(
        [
            "ldapwhoami",
            "-x",
            "-ZZ",
            "-H",
            f"ldap://{identity_lab.hosts.north}",
            "-D",
            "uid=expiring,ou=people,dc=northvale,dc=test",
            "-w",
            "pw-expiring",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_missing_account_names_near_misses(results: dict[str, Result]) -> None:
    r = get(results, "jsmith", "account-exists")
    assert r.status == Status.FAIL
    # Only plausible candidates, each with why: never an entry merely spelt alike.
    assert "similar" not in r.observed
    assert (
        "uid=jsmyth,ou=people,dc=northvale,dc=test: holds the person's address "
        "jsmith@valeshared.test" in r.observed
    )
    assert (
        "in south-ldap (south) uid=jsmith,ou=people,dc=southmere,dc=test: the same username "
        "jsmith: the account may be in the other organisation's directory" in r.observed
    )


@pytest.mark.parametrize(
    ("tag", "code", "needle"),
    [
        ("unreachable", "unreachable", "refused the connection"),
        ("service", "service-bind", "invalidCredentials"),
        ("referral", "referral", "referral"),
        ("size", "size-limit", "size limit"),
        ("timeout", "timeout", "did not answer in time"),
    ],
)
def test_directory_errors_are_clear_error_results(
    results: dict[str, Result], tag: str, code: str, needle: str
) -> None:
    r = results[f"staff:north/err-{tag}-person|identity.account-exists|directories:north-{tag}"]
    assert r.status == Status.ERROR
    assert r.root_cause == f"identity.directory|north-{tag}|{code}"
    assert needle in r.summary and r.hint
    assert "not-the-password" not in repr(r.to_json())
    if tag == "unreachable":  # its TLS services cannot be connected to either: one problem
        tls = [
            x
            for k, x in results.items()
            if k.startswith(f"directories:north-{tag}|tls.") and x.status.bad
        ]
        assert tls and all(x.root_cause == r.root_cause for x in tls), [
            (x.id, x.status, x.root_cause, x.details) for x in tls
        ]
    # ... and the sweep went on: the same person's main directory was checked (it finds
    # the "healthy" entry, whose addresses are not this test person's: a warning).
    main = results[f"staff:north/err-{tag}-person|identity.account-exists|{NORTH}"]
    assert main.status == Status.WARN and "mail: HR" in main.summary


def test_pilot_logins(results: dict[str, Result]) -> None:
    assert get(results, "pilot.ok", "pilot-login").status == Status.PASS
    bad = get(results, "pilot.bad", "pilot-login")
    assert bad.status == Status.FAIL and "bad password" in bad.summary
    assert "not retried" in bad.summary
    low = get(results, "pilot.low", "pilot-login")
    assert low.status == Status.ERROR and "only 1 attempt(s) left" in low.summary
    reset = get(results, "pilot.reset", "pilot-login")
    assert reset.status == Status.WARN and "must be changed" in reset.summary
    for r in results.values():
        assert PILOT_PASSWORD not in repr(r.to_json())
        assert "Wrong-Password-9" not in repr(r.to_json())


def test_dry_run_plan_lists_lockout_cost(inventory: Inventory) -> None:
    probes = list(IdentityFamily().plan(PlanContext(inventory, inventory.staff, inventory.go_live)))
    pilots = {p.account: p.lockout_cost for p in probes if p.lockout_cost}
    assert pilots == {
        "north-ldap/pilot.ok": 1,
        "north-ldap/pilot.bad": 1,
        "north-ldap/pilot.low": 1,
        "north-ldap/pilot.reset": 1,
    }
    people = [p for p in probes if p.subject.startswith("staff:")]
    assert all(p.batch == f"identity:{p.params.directory}" for p in people)


def _locked(lab: IdentityLab, uid: str) -> tuple[bool, int]:
    env = {**os.environ, "LDAPTLS_CACERT": str(lab.ca.cert_path)}
    out = subprocess.run(
        [
            "ldapsearch",
            "-LLL",
            "-x",
            "-ZZ",
            "-H",
            f"ldap://{lab.hosts.north}",
            "-D",
            lab.north.admin_dn,
            "-y",
            str(lab.north.admin_password_file),
            "-b",
            f"uid={uid},ou=people,dc=northvale,dc=test",
            "-s",
            "base",
            "pwdAccountLockedTime",
            "pwdFailureTime",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return "pwdAccountLockedTime" in out.stdout, out.stdout.count("pwdFailureTime:")


def test_many_sweeps_with_a_wrong_pilot_password_never_lock(
    identity_lab: IdentityLab, inventory: Inventory, results: dict[str, Result]
) -> None:
    # Same state folder (the ledger's budget stops it) and fresh state folders each time
    # (only the headroom rule stops it): neither ever reaches pwdMaxFailure 3.
    for i in range(6):
        state = identity_lab.root / ("sweep-repeat" if i % 2 else f"sweep-fresh-{i}")
        r = by_id(sweep(inventory, state))
        bad = get(r, "pilot.bad", "pilot-login")
        assert bad.status in (Status.FAIL, Status.ERROR)
        locked, failures = _locked(identity_lab, "pilot.bad")
        assert not locked and failures <= 2
    assert bad.status == Status.ERROR
    assert "only 1 attempt(s) left" in bad.summary or "budget" in bad.summary
    # The real password still works: the account was never locked.
    env = {**os.environ, "LDAPTLS_CACERT": str(identity_lab.ca.cert_path)}
    ok = subprocess.run(
        [
            "ldapwhoami",
            "-x",
            "-ZZ",
            "-H",
            f"ldap://{identity_lab.hosts.north}",
            "-D",
            "uid=pilot.bad,ou=people,dc=northvale,dc=test",
            "-w",
            PILOT_PASSWORD,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


def test_ledger_budget_refuses_with_a_clear_message(
    identity_lab: IdentityLab, inventory: Inventory
) -> None:
    from readiness.ledger import AttemptLedger, Outcome

    state = identity_lab.root / "sweep-budget"
    with AttemptLedger(state / "ledger.sqlite") as ledger:
        for minutes in (1, 2):
            ledger.record(
                ledger.reserve(
                    *north_key(identity_lab, "pilot.ok"),
                    now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes),
                ),
                Outcome.FAILURE,
            )
    r = get(by_id(sweep(inventory, state)), "pilot.ok", "pilot-login")
    assert r.status == Status.ERROR and "attempt budget" in r.summary
    assert r.root_cause == "identity.pilot-login|north-ldap|budget"


def test_ldap_operations_do_not_grow_with_staff(inventory: Inventory, tmp_path: Path) -> None:
    fam = IdentityFamily()
    non_pilots = [p for p in inventory.staff if not p.pilot and p.organisation == "north"]
    counts = []
    for staff in (non_pilots[:2], non_pilots):
        OPERATIONS.reset()
        probes = [
            p
            for p in fam.plan(PlanContext(inventory, staff, inventory.go_live))
            if p.params.directory == "north-ldap"
        ]
        from readiness.family import RunContext

        ctx = RunContext(
            inventory,
            go_live=inventory.go_live,
            clock=lambda: dt.datetime.now(dt.UTC),
            secrets_dir=inventory.root,
            state_dir=tmp_path,
        )
        out = list(fam.run(probes, ctx))
        ctx.close()
        assert len({r.probe for r in out}) == len(probes)
        counts.append(
            (len(probes), OPERATIONS.total("north-ldap"), OPERATIONS.total("north-ldap", "search"))
        )
    (small, ops_small, searches_small), (big, ops_big, searches_big) = counts
    assert big > small
    # root DSE, people, groups, policies
    assert ops_small == ops_big and searches_small == searches_big == 4


def test_cleartext_binds_are_refused_unless_allowed(
    identity_lab: IdentityLab, tmp_path: Path
) -> None:
    from readiness.inventory import InventoryError
    from readiness.secrets import Secret
    from readiness_checks.identity.client import DirectoryError, Endpoint, LdapSession

    # The inventory may not ask for it silently...
    folder = write_inventory(identity_lab, "cleartext")
    text = (folder / "inventory.yaml").read_text()
    (folder / "inventory.yaml").write_text(
        text.replace("    start_tls: true\n", "    start_tls: false\n", 1)
    )
    with pytest.raises(InventoryError) as err:
        load_inventory(folder)
    assert "would send the bind password in clear" in str(err.value.problems[0])
    # ... and the session refuses to send a password over a cleartext connection.
    north = identity_lab.hosts.north
    session = LdapSession(
        "t",
        Endpoint.parse(f"ldap://{north}:389"),
        north,
        start_tls=False,
        ca_file=str(identity_lab.ca.cert_path),
        tls_verify=True,
        allow_cleartext=False,
        timeout=3,
    )
    session.open()
    try:
        with pytest.raises(DirectoryError) as refused:
            session.bind(identity_lab.north.service_dn, Secret("x"))
        assert refused.value.code == "cleartext"
    finally:
        session.close()

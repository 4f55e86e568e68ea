"""Active Directory semantics of checks/identity/ad.py: the traps, with an injected clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from readiness_checks.identity.ad import (
    AD_ATTRIBUTES,
    ADPolicy,
    datetime_to_filetime,
    evaluate_ad_account,
    filetime_to_datetime,
    in_chain_filter,
    map_bind_diagnostic,
    policy_from_entries,
)
from tests.style import assert_sentence

NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
GO_LIVE = dt.datetime(2027, 4, 1, 8, 0, tzinfo=dt.UTC)
DAY = 864_000_000_000  # 100 ns ticks
PSO_DN = "CN=privileged-pso,CN=Password Settings Container,CN=System,DC=ad,DC=valeshared,DC=test"
INT64_MIN = "-9223372036854775808"
NEVER = "9223372036854775807"

DOMAIN = {
    "lockoutThreshold": ["3"],
    "lockoutDuration": [str(-30 * 60 * 10_000_000)],
    "lockOutObservationWindow": [str(-30 * 60 * 10_000_000)],
    "maxPwdAge": [str(-90 * DAY)],
}
PSO = {
    "dn": PSO_DN,
    "msDS-MaximumPasswordAge": [str(-20 * DAY)],
    "msDS-LockoutThreshold": ["5"],
    "msDS-LockoutDuration": [INT64_MIN],  # until an administrator unlocks
    "msDS-LockoutObservationWindow": [str(-60 * 60 * 10_000_000)],
}
POLICY = policy_from_entries(DOMAIN, [PSO])


def ft(value: dt.datetime) -> str:
    return str(datetime_to_filetime(value))


def user(**attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sAMAccountName": ["jsmith"],
        "userAccountControl": ["512"],
        "pwdLastSet": [ft(NOW - dt.timedelta(days=1))],
        "accountExpires": [NEVER],
        "badPwdCount": ["0"],
        "lockoutTime": ["0"],
    }
    base.update({k: v if isinstance(v, list) else [v] for k, v in attrs.items()})
    return base


def codes(
    entry: dict[str, Any],
    policy: ADPolicy = POLICY,
    now: dt.datetime = NOW,
    go_live: dt.datetime = GO_LIVE,
    **rules: Any,
) -> dict[str, str]:
    state = evaluate_ad_account(entry, policy, go_live=go_live, now=now, **rules)
    for finding in state.findings:  # every finding reads the same way
        assert_sentence(finding.impact)
        assert_sentence(finding.hint)
    return {f.code: f.severity for f in state.findings}


def test_healthy_account_has_no_finding_and_full_headroom() -> None:
    state = evaluate_ad_account(user(), POLICY, go_live=GO_LIVE, now=NOW)
    assert state.findings == ()
    assert state.lockout_headroom == 3
    assert state.usable


def test_policy_from_domain_and_pso_entries() -> None:
    assert POLICY.lockout_threshold == 3
    assert POLICY.max_pwd_age == dt.timedelta(days=90)
    assert POLICY.lockout_duration == dt.timedelta(minutes=30)
    pso = POLICY.settings_for(PSO_DN.upper())  # DNs compare case-insensitively
    assert pso.max_pwd_age == dt.timedelta(days=20)
    assert pso.lockout_threshold == 5 and pso.lockout_duration is None
    assert POLICY.settings_for("CN=unknown,DC=x").source == "domain"


def test_policy_accepts_ldap3_formatted_values() -> None:
    policy = policy_from_entries(
        {
            "maxPwdAge": dt.timedelta.max,
            "lockoutThreshold": 4,
            "lockoutDuration": dt.timedelta(minutes=10),
        }
    )
    assert policy.max_pwd_age is None  # int64 min: never
    assert policy.lockout_threshold == 4
    assert policy.lockout_duration == dt.timedelta(minutes=10)
    assert policy_from_entries({"maxPwdAge": "0"}).max_pwd_age is None


def test_disabled_is_fail() -> None:
    assert codes(user(userAccountControl="514")) == {"disabled": "fail"}


def test_stored_lockout_and_expired_flags_are_ignored() -> None:
    # AD does not maintain 0x10 / 0x800000 in the stored userAccountControl.
    assert codes(user(userAccountControl=str(512 | 0x10 | 0x800000))) == {}


def test_locked_from_computed_attribute() -> None:
    entry = user(
        **{
            "msDS-User-Account-Control-Computed": "16",
            "lockoutTime": ft(NOW - dt.timedelta(minutes=5)),
            "badPwdCount": "3",
        }
    )
    state = evaluate_ad_account(entry, POLICY, go_live=GO_LIVE, now=NOW)
    assert [(f.code, f.severity) for f in state.findings] == [("locked", "warn")]
    assert state.lockout_headroom == 0


def test_expired_lock_is_not_a_lock() -> None:
    # lockoutTime two hours ago, 30-minute lockout duration: no longer locked.
    old = user(
        lockoutTime=ft(NOW - dt.timedelta(hours=2)),
        badPwdCount="3",
        badPasswordTime=ft(NOW - dt.timedelta(hours=2)),
    )
    assert codes(old) == {}
    state = evaluate_ad_account(old, POLICY, go_live=GO_LIVE, now=NOW)
    assert state.lockout_headroom == 3  # failures older than the observation window
    # ... and the DC's own computed flag agrees when fetched.
    assert codes({**old, "msDS-User-Account-Control-Computed": ["0"]}) == {}


def test_lock_computed_from_lockout_time_when_not_fetched() -> None:
    recent = user(lockoutTime=ft(NOW - dt.timedelta(minutes=5)), badPwdCount="3")
    assert codes(recent) == {"locked": "warn"}  # runs out long before go-live
    # Under the PSO the lock lasts until an administrator unlocks it: fail.
    permanent = {
        **recent,
        "msDS-ResultantPSO": [PSO_DN],
        "userAccountControl": [str(512 | 0x10000)],
    }  # (PSO max age aside)
    assert codes(permanent) == {"locked": "fail"}


def test_lock_lasting_past_go_live_is_fail() -> None:
    policy = policy_from_entries({**DOMAIN, "lockoutDuration": [str(-60 * DAY)]})
    entry = user(lockoutTime=ft(NOW - dt.timedelta(minutes=5)))
    assert codes(entry, policy) == {"locked": "fail"}


def test_must_change_is_warn() -> None:
    assert codes(user(pwdLastSet="0")) == {"must-change": "warn"}


def test_must_change_with_computed_expired_bit_is_not_password_expired() -> None:
    # The DC sets 0x800000 in the computed flags when pwdLastSet is 0.
    entry = user(
        pwdLastSet="0",
        **{
            "msDS-User-Account-Control-Computed": str(0x800000),
            "msDS-UserPasswordExpiryTimeComputed": "0",
        },
    )
    assert codes(entry) == {"must-change": "warn"}


def test_must_change_on_never_expiring_password_is_not_flagged() -> None:
    entry = user(pwdLastSet="0", userAccountControl=str(512 | 0x10000))
    assert codes(entry) == {}


def test_never_expiring_password_is_not_judged_by_age() -> None:
    entry = user(pwdLastSet=ft(NOW - dt.timedelta(days=400)), userAccountControl=str(512 | 0x10000))
    assert codes(entry) == {}


def test_password_expiry_is_judged_at_go_live_not_today() -> None:
    # Set 70 days ago, 90-day maximum: valid today, expired 11 days before go-live.
    entry = user(pwdLastSet=ft(NOW - dt.timedelta(days=70)))
    # Normal rotation: the person is prompted before go-live and changes it (warn)...
    assert codes(entry) == {"password-rotates-before-go-live": "warn"}
    # ... unless the programme counts it as expired, or the account cannot change it.
    assert codes(entry, expiring="fail") == {"password-expires-before-go-live": "fail"}
    cannot = user(pwdLastSet=ft(NOW - dt.timedelta(days=70)), userAccountControl=str(512 | 0x40))
    assert codes(cannot) == {"password-expires-before-go-live": "fail"}
    # Judged today it would pass: the same entry with go-live tomorrow.
    assert codes(entry, go_live=NOW + dt.timedelta(days=1)) == {}


def test_what_if_six_months_ahead_does_not_fail_normal_rotation() -> None:
    """Issue 17: a what-if go-live six months ahead must not mark everyone whose password
    follows the normal 90-day rotation as not ready."""
    far = NOW + dt.timedelta(days=182)
    for age in (1, 30, 60, 89):
        entry = user(pwdLastSet=ft(NOW - dt.timedelta(days=age)))
        state = evaluate_ad_account(entry, POLICY, go_live=far, now=NOW)
        assert [(f.code, f.severity) for f in state.findings] == [
            ("password-rotates-before-go-live", "warn")
        ]
        expiry = NOW - dt.timedelta(days=age) + dt.timedelta(days=90)
        assert expiry.strftime("%Y-%m-%d") in state.findings[0].observed  # with the date
    # Already expired now: still a failure, whatever the date judged against.
    assert codes(user(pwdLastSet=ft(NOW - dt.timedelta(days=91))), go_live=far) == {
        "password-expired": "fail"
    }


def test_must_change_blocks_when_the_programme_says_so() -> None:
    entry = user(pwdLastSet="0")
    assert codes(entry) == {"must-change": "warn"}
    assert codes(entry, must_change_blocks=True) == {"must-change": "fail"}


def test_password_already_expired() -> None:
    entry = user(pwdLastSet=ft(NOW - dt.timedelta(days=100)))
    assert codes(entry) == {"password-expired": "fail"}
    computed = user(
        **{
            "msDS-User-Account-Control-Computed": str(0x800000),
            "pwdLastSet": ft(NOW - dt.timedelta(days=100)),
        }
    )
    assert codes(computed) == {"password-expired": "fail"}


def test_password_expiring_soon_after_go_live_is_warn() -> None:
    # 90 days from (go-live - 85 days) = 5 days after go-live.
    entry = user(pwdLastSet=ft(GO_LIVE - dt.timedelta(days=85)))
    assert codes(entry) == {"password-expires-soon-after-go-live": "warn"}


def test_pso_overrides_domain_max_pwd_age() -> None:
    # Set 25 days ago: fine under the domain's 90 days, expired under the PSO's 20.
    entry = user(pwdLastSet=ft(NOW - dt.timedelta(days=25)))
    assert codes(entry) == {}
    assert codes({**entry, "msDS-ResultantPSO": [PSO_DN]}) == {"password-expired": "fail"}
    # Set 5 days ago: expires 15 days from now, before go-live under the PSO.
    fresh = user(pwdLastSet=ft(NOW - dt.timedelta(days=5)), **{"msDS-ResultantPSO": PSO_DN})
    assert codes(fresh, expiring="fail") == {"password-expires-before-go-live": "fail"}
    assert codes(fresh) == {"password-rotates-before-go-live": "warn"}
    assert evaluate_ad_account(fresh, POLICY, go_live=GO_LIVE, now=NOW).lockout_headroom == 5


def test_dc_computed_expiry_time_wins() -> None:
    # The DC's own msDS-UserPasswordExpiryTimeComputed (e.g. from a PSO we cannot read).
    entry = user(**{"msDS-UserPasswordExpiryTimeComputed": ft(GO_LIVE - dt.timedelta(days=1))})
    assert codes(entry, expiring="fail") == {"password-expires-before-go-live": "fail"}
    never = user(
        pwdLastSet=ft(NOW - dt.timedelta(days=89)), **{"msDS-UserPasswordExpiryTimeComputed": NEVER}
    )
    assert codes(never) == {}


@pytest.mark.parametrize("value", ["0", NEVER, 0, int(NEVER)])
def test_account_expires_never_values(value: Any) -> None:
    assert codes(user(accountExpires=value)) == {}


def test_account_expires_judged_at_go_live() -> None:
    assert codes(user(accountExpires=ft(NOW - dt.timedelta(days=1)))) == {"account-expired": "fail"}
    before = user(accountExpires=ft(GO_LIVE - dt.timedelta(days=2)))
    assert codes(before) == {"account-expires-before-go-live": "fail"}
    assert codes(before, go_live=NOW + dt.timedelta(days=1)) == {}
    soon = user(accountExpires=ft(GO_LIVE + dt.timedelta(days=3)))
    assert codes(soon) == {"account-expires-soon-after-go-live": "warn"}


def test_ldap3_formatted_timestamps() -> None:
    # ldap3 with schema: FILETIME -> datetime; 0 -> 1601-01-01; never -> datetime.max.
    epoch = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
    entry = {
        "userAccountControl": 512,
        "pwdLastSet": NOW - dt.timedelta(days=70),
        "accountExpires": dt.datetime.max.replace(tzinfo=dt.UTC),
        "lockoutTime": epoch,
        "badPwdCount": 1,
    }
    state = evaluate_ad_account(entry, POLICY, go_live=GO_LIVE, now=NOW)
    assert {f.code for f in state.findings} == {"password-rotates-before-go-live"}
    assert state.lockout_headroom == 2
    assert codes({**entry, "pwdLastSet": epoch}) == {"must-change": "warn"}


def test_password_not_required_is_warn() -> None:
    assert codes(user(userAccountControl=str(512 | 0x20))) == {"password-not-required": "warn"}


def test_headroom_none_without_lockout_policy() -> None:
    policy = policy_from_entries({**DOMAIN, "lockoutThreshold": ["0"]})
    state = evaluate_ad_account(user(badPwdCount="2"), policy, go_live=GO_LIVE, now=NOW)
    assert state.lockout_headroom is None


def test_headroom_counts_recent_failures() -> None:
    entry = user(badPwdCount="2", badPasswordTime=ft(NOW - dt.timedelta(minutes=1)))
    assert evaluate_ad_account(entry, POLICY, go_live=GO_LIVE, now=NOW).lockout_headroom == 1


def test_naive_datetimes_are_utc() -> None:
    state = evaluate_ad_account(
        user(), POLICY, go_live=GO_LIVE.replace(tzinfo=None), now=NOW.replace(tzinfo=None)
    )
    assert state.findings == ()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("52e", "bad-password"),
        ("530", "logon-hours"),
        ("531", "workstation"),
        ("532", "password-expired"),
        ("533", "disabled"),
        ("701", "account-expired"),
        ("773", "must-change"),
        ("775", "locked"),
        ("525", "no-such-user"),
    ],
)
def test_map_bind_diagnostic(code: str, reason: str) -> None:
    message = (
        "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, "
        f"data {code}, v1db1"
    )
    got, meaning, hint = map_bind_diagnostic(message)
    assert got == reason and meaning and hint
    assert_sentence(meaning)
    assert_sentence(hint)
    assert map_bind_diagnostic(message.upper())[0] == reason


def test_map_bind_diagnostic_unknown() -> None:
    assert map_bind_diagnostic("")[0] == "unknown"
    assert map_bind_diagnostic("data 999, v1db1")[0] == "unknown"


def test_filetime_round_trip_and_in_chain_filter() -> None:
    assert filetime_to_datetime(datetime_to_filetime(NOW)) == NOW
    assert filetime_to_datetime(0) is None and filetime_to_datetime(int(NEVER)) is None
    assert in_chain_filter("CN=a (b),DC=x") == (
        "(memberOf:1.2.840.113556.1.4.1941:=CN=a \\28b\\29,DC=x)"
    )
    for name in (
        "userAccountControl",
        "msDS-User-Account-Control-Computed",
        "lockoutTime",
        "pwdLastSet",
        "accountExpires",
        "badPwdCount",
        "msDS-ResultantPSO",
    ):
        assert name in AD_ATTRIBUTES


def test_unreadable_resultant_pso_leaves_lockout_unknown_not_domain() -> None:
    # The PSO named by msDS-ResultantPSO is not among those the service account read:
    # neither the domain threshold nor "unlimited" may stand in for it.
    hidden = "CN=hidden-pso,CN=Password Settings Container,CN=System,DC=ad,DC=valeshared,DC=test"
    entry = user(
        **{
            "msDS-ResultantPSO": hidden,
            "badPwdCount": "2",
            "badPasswordTime": ft(NOW - dt.timedelta(minutes=1)),
        }
    )
    state = evaluate_ad_account(entry, POLICY, go_live=GO_LIVE, now=NOW)
    assert state.lockout_headroom is None
    assert "hidden-pso" in state.lockout_unknown and "not readable" in state.lockout_unknown
    assert state.expiry_unknown  # no DC-computed expiry to fall back on
    computed = {**entry, "msDS-UserPasswordExpiryTimeComputed": [ft(NOW + 300 * ONE_DAY)]}
    assert not evaluate_ad_account(computed, POLICY, go_live=GO_LIVE, now=NOW).expiry_unknown
    # A readable PSO, and no PSO at all, are known.
    for known in (user(**{"msDS-ResultantPSO": PSO_DN}), user()):
        state = evaluate_ad_account(known, POLICY, go_live=GO_LIVE, now=NOW)
        assert not state.lockout_unknown and state.lockout_headroom is not None


ONE_DAY = dt.timedelta(days=1)


def test_only_states_holding_now_block_a_bind_now() -> None:
    def blocking(entry: dict[str, Any]) -> dict[str, bool]:
        state = evaluate_ad_account(entry, POLICY, go_live=GO_LIVE, now=NOW)
        return {f.code: f.blocks_now for f in state.findings}

    # Judged at go-live: valid now, so a pilot bind now is not refused for them.
    assert blocking(user(pwdLastSet=ft(NOW - 80 * ONE_DAY))) == {
        "password-rotates-before-go-live": False
    }
    assert blocking(user(pwdLastSet=ft(GO_LIVE - 85 * ONE_DAY))) == {
        "password-expires-soon-after-go-live": False
    }
    assert blocking(user(accountExpires=ft(NOW + 10 * ONE_DAY))) == {
        "account-expires-before-go-live": False
    }
    # Holding now.
    assert blocking(user(userAccountControl="514")) == {"disabled": True}
    assert blocking(user(pwdLastSet=ft(NOW - 100 * ONE_DAY))) == {"password-expired": True}
    assert blocking(user(accountExpires=ft(NOW - ONE_DAY))) == {"account-expired": True}
    assert blocking(user(lockoutTime=ft(NOW - dt.timedelta(minutes=1)))) == {"locked": True}

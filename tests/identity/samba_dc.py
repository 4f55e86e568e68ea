"""A real Samba AD DC for the identity tests (lab/samba.py): one per test session, with
one account per AD condition the tests judge (faults produced for real), started on a
claimed slot and stopped by PID."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from readiness_lab.ca import LabCA
from readiness_lab.claim import claimed
from readiness_lab.process import Supervisor, alive
from readiness_lab.samba import (
    ADGroupSpec,
    ADUserSpec,
    DomainPolicySpec,
    PSOSpec,
    SambaInfo,
    SambaSpec,
    start_samba,
    stop_samba,
)
from readiness_lab.slot import Slot

PASSWORD = "Lab-Pass-4711"
GO_LIVE_IN = dt.timedelta(days=30)
DAYS = dt.timedelta(days=1)


def _user(username: str, **kw: Any) -> ADUserSpec:
    defaults: dict[str, Any] = {
        "given_name": username.capitalize(),
        "surname": "Tester",
        "password": PASSWORD,
        "mail": f"{username}@valeshared.test",
        "proxy_addresses": [f"smtp:{username}@northvale.test"],
        "telephone": "4100",
        "groups": ["housing"],
    }
    defaults.update(kw)
    return ADUserSpec(username=username, **defaults)


def _users(now: dt.datetime) -> list[ADUserSpec]:
    return [
        _user("alice"),  # healthy
        _user("binder"),  # healthy; takes one real wrong-password bind
        _user("ghost", present=False),  # missing
        _user("dis", disabled=True),
        _user("locky", lock=True),  # locked by real failed binds (domain: 30 min)
        _user("privlock", groups=["privileged"], lock=True),  # PSO: locked until unlocked
        _user("oldlock", expired_lock_age=dt.timedelta(hours=2)),  # a lock that ran out
        _user("mc", must_change=True),
        _user("mcne", must_change=True, password_never_expires=True),  # trap: not flagged
        _user("oldpw", password_age=100 * DAYS),  # expired (90-day maximum)
        _user("soonpw", password_age=70 * DAYS),  # valid today, expired by go-live
        _user("laterpw", password_age=50 * DAYS),  # expires 10 days after go-live
        _user("priv", groups=["privileged"]),  # PSO: 20-day maximum, expires before go-live
        _user("gone", account_expires=now - DAYS),
        _user("leaver", account_expires=now + 10 * DAYS),
        _user("nopw", password_not_required=True),
        _user("nogroup", groups=[]),  # missing group
        _user("nested", groups=["housing-team"]),  # in housing only through nesting
        _user("nomail", mail=None),
        _user("wrongmail", mail="wrongmail@southmere.test"),
        _user("noproxy", proxy_addresses=[]),
        _user("Zoë", given_name="Zoë", surname="Ångström"),  # non-ASCII names
        # Pilots of the lockout tests (tests/identity/test_lockout_sharing.py).
        _user("pilotad", employee_id="E1001"),
        # HR keys people by employee number; this one's username and surname changed
        # in HR (Ruth Jones, rjones) but not in the directory.
        _user("rsmith", given_name="Ruth", surname="Smith", employee_id="E1002"),
    ]


USERS = _users(dt.datetime.now(dt.UTC))
EXPECTED: dict[str, dict[str, str]] = {
    "alice": {},
    "binder": {},
    "nogroup": {},
    "nested": {},
    "nomail": {},
    "wrongmail": {},
    "noproxy": {},
    "Zoë": {},
    "pilotad": {},
    "rsmith": {},
    "oldlock": {},
    "mcne": {},
    "dis": {"disabled": "fail"},
    "locky": {"locked": "warn"},  # the 30-minute lock runs out long before go-live
    # Valid now, expiring before go-live: normal rotation, changed when prompted (warn).
    "privlock": {"locked": "fail", "password-rotates-before-go-live": "warn"},
    "mc": {"must-change": "warn"},
    "oldpw": {"password-expired": "fail"},
    "soonpw": {"password-rotates-before-go-live": "warn"},
    "laterpw": {"password-expires-soon-after-go-live": "warn"},
    "priv": {"password-rotates-before-go-live": "warn"},
    "gone": {"account-expired": "fail"},
    "leaver": {"account-expires-before-go-live": "fail"},
    "nopw": {"password-not-required": "warn"},
}


@dataclass
class DC:
    info: SambaInfo
    spec: SambaSpec
    go_live: dt.datetime
    service_password: str
    seconds: float


@pytest.fixture(scope="session")
def ad_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DC]:
    """One Samba AD DC for the session's identity tests, on a claimed slot, stopped by
    PID at the end."""
    if shutil.which("samba") is None:
        pytest.fail(
            "samba is not installed: this test needs a real Samba AD DC "
            "(Debian packages samba, ldb-tools)"
        )
    state = tmp_path_factory.mktemp("samba-lab")
    with claimed(state) as slot:  # a lab or another test run must not collide with it
        yield from _dc(state, slot)


def _dc(state: Path, slot: Slot) -> Iterator[DC]:
    now = dt.datetime.now(dt.UTC)
    go_live = now + GO_LIVE_IN
    users = _users(now)
    spec = SambaSpec(
        address=slot.ad,
        users=users,
        groups=[
            ADGroupSpec("housing", member_of=["all-staff"]),
            ADGroupSpec("all-staff"),
            ADGroupSpec("housing-team", member_of=["housing"]),
            ADGroupSpec("privileged"),
        ],
        psos=[
            PSOSpec(
                "privileged-pso",
                applies_to=["privileged"],
                max_pwd_age_days=20,
                lockout_threshold=5,
                lockout_duration_minutes=0,
            )
        ],
        policy=DomainPolicySpec(
            lockout_threshold=3,
            lockout_duration_minutes=30,
            reset_lockout_after_minutes=30,
            max_pwd_age_days=90,
        ),
    )
    supervisor = Supervisor(state)
    ca = LabCA(state / "ca")
    t0 = time.perf_counter()
    info = start_samba(spec, supervisor, ca, state, now=now)
    seconds = time.perf_counter() - t0
    print(f"samba lab up in {seconds:.1f}s: {info.timings}")
    try:
        yield DC(info, spec, go_live, info.service_password_file.read_text().strip(), seconds)
    finally:
        stop_samba(info, supervisor)
        assert not alive(info.pid)

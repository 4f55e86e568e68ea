"""OpenLDAP password policy (slapo-ppolicy(5)) semantics: is an account usable at go-live?

Pure functions over attribute dictionaries (name -> list of string values, names
case-insensitive as ldap3 returns them), so they are unit-tested without a server
and proven against the lab's real slapd by the integration tests.

Rules (DOMAIN.md, slapo-ppolicy(5)):

* ``pwdAccountLockedTime`` locks only when the applicable policy has ``pwdLockout``
  TRUE. ``000001010000Z`` is a permanent, administrator-only lock (the OpenLDAP way
  of disabling an account); otherwise the lock ends at lockedTime + pwdLockoutDuration
  (0 = until an administrator resets it). An expired lock is not a lock.
* ``pwdAccountTmpLockoutEnd`` in the future is a temporary (delay) lock.
* ``pwdReset`` TRUE = must change the password (only enforced with pwdMustChange): a
  ``warn`` (code ``must-change``), a ``fail`` when the programme says it blocks.
* ``pwdChangedTime`` + ``pwdMaxAge`` = password expiry, judged at go-live, with
  ``pwdGraceUseTime`` values against ``pwdGraceAuthNLimit`` for the grace logins left.
  A password still valid now that expires before go-live is normal rotation: the
  person is prompted and changes it in the meantime (``warn``, with the date), unless
  the policy forbids users to change it (``pwdAllowUserChange`` FALSE) or the
  programme counts it as expired (``expiring="fail"``).
* ``pwdStartTime`` / ``pwdEndTime`` bound when the account may be used.
* Headroom = ``pwdMaxFailure`` minus the ``pwdFailureTime`` values still counted
  (within ``pwdFailureCountInterval`` when set). Only a readable policy with
  ``pwdLockout`` FALSE (or no ``pwdMaxFailure``) means "no lockout"; an applicable
  policy the service account cannot read leaves lock state, headroom and expiry
  UNKNOWN (``AccountState.lockout_unknown`` / ``expiry_unknown``), never unlimited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .state import AccountState, Finding, must_change_finding, rotation_finding

__all__ = [
    "PERMANENT_LOCK",
    "POLICY_ATTRIBUTES",
    "PPOLICY_ATTRIBUTES",
    "PPolicy",
    "evaluate_ppolicy_account",
    "parse_gentime",
]

PERMANENT_LOCK = "000001010000Z"
PPOLICY_ATTRIBUTES = (
    "pwdAccountLockedTime",
    "pwdAccountTmpLockoutEnd",
    "pwdFailureTime",
    "pwdReset",
    "pwdChangedTime",
    "pwdGraceUseTime",
    "pwdStartTime",
    "pwdEndTime",
    "pwdPolicySubentry",
)
POLICY_ATTRIBUTES = (
    "pwdMaxFailure",
    "pwdLockout",
    "pwdLockoutDuration",
    "pwdMaxAge",
    "pwdGraceAuthNLimit",
    "pwdFailureCountInterval",
    "pwdMustChange",
    "pwdGraceExpiry",
    "pwdAllowUserChange",
)
EXPIRY_WARNING = dt.timedelta(days=14)  # expiring this soon after go-live is a warning

Attrs = Mapping[str, Sequence[str]]


def parse_gentime(value: str) -> dt.datetime:
    """Parse an LDAP GeneralizedTime (``20270101120000Z``, with optional fraction)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1]
    tz = dt.UTC
    for sign in ("+", "-"):
        if sign in text[8:]:
            head, _, off = text.rpartition(sign)
            minutes = int(off[:2]) * 60 + int(off[2:4] or 0)
            tz = dt.timezone(dt.timedelta(minutes=minutes if sign == "+" else -minutes))
            text = head
            break
    frac = ""
    for sep in (".", ","):
        if sep in text:
            text, _, frac = text.partition(sep)
    text = text.ljust(14, "0")
    base = dt.datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        tzinfo=tz,
    )
    if frac:
        base += dt.timedelta(microseconds=int((frac + "000000")[:6]))
    return base.astimezone(dt.UTC)


def _get(attrs: Attrs, name: str) -> list[str]:
    """Values of ``name``; keys as named or lower-cased (ldap3's case-insensitive dicts
    answer both), values a list or a single value, ``str`` or ``bytes``."""
    values = attrs.get(name)
    if values is None:
        values = attrs.get(name.lower())
        if values is None:
            return []
    if isinstance(values, (str, bytes)):
        return [values.decode() if isinstance(values, bytes) else values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _first(attrs: Attrs, name: str) -> str | None:
    values = _get(attrs, name)
    return values[0] if values else None


def _int(attrs: Attrs, name: str, default: int = 0) -> int:
    value = _first(attrs, name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _bool(attrs: Attrs, name: str, default: bool = False) -> bool:
    value = _first(attrs, name)
    return default if value is None else value.strip().upper() == "TRUE"


@dataclass(frozen=True)
class PPolicy:
    """One pwdPolicy entry."""

    dn: str
    max_failure: int = 0
    lockout: bool = False
    lockout_duration: int = 0
    max_age: int = 0
    grace_limit: int = 0
    failure_count_interval: int = 0
    must_change: bool = False
    grace_expiry: int = 0
    allow_user_change: bool = True

    @classmethod
    def from_entry(cls, dn: str, attrs: Attrs) -> PPolicy:
        return cls(
            dn=dn,
            max_failure=_int(attrs, "pwdMaxFailure"),
            lockout=_bool(attrs, "pwdLockout"),
            lockout_duration=_int(attrs, "pwdLockoutDuration"),
            max_age=_int(attrs, "pwdMaxAge"),
            grace_limit=_int(attrs, "pwdGraceAuthNLimit"),
            failure_count_interval=_int(attrs, "pwdFailureCountInterval"),
            must_change=_bool(attrs, "pwdMustChange"),
            grace_expiry=_int(attrs, "pwdGraceExpiry"),
            allow_user_change=_bool(attrs, "pwdAllowUserChange", default=True),
        )

    def describe(self) -> str:
        return (
            f"policy {self.dn}: pwdLockout {str(self.lockout).upper()}, pwdMaxFailure "
            f"{self.max_failure}, pwdLockoutDuration {self.lockout_duration}s, pwdMaxAge "
            f"{self.max_age}s, pwdGraceAuthNLimit {self.grace_limit}"
        )


def _fmt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _times(attrs: Attrs, name: str) -> list[dt.datetime]:
    out = []
    for v in _get(attrs, name):
        try:
            out.append(parse_gentime(v))
        except (ValueError, IndexError, OverflowError):  # year 1 or 9999 beyond UTC
            continue
    return out


def _one_time(attrs: Attrs, name: str) -> dt.datetime | None:
    found = _times(attrs, name)
    return found[0] if found else None


def counted_failures(attrs: Attrs, policy: PPolicy | None, now: dt.datetime) -> int:
    failures = _times(attrs, "pwdFailureTime")
    if policy and policy.failure_count_interval > 0:
        since = now - dt.timedelta(seconds=policy.failure_count_interval)
        failures = [f for f in failures if f > since]
    return len(failures)


def evaluate_ppolicy_account(
    attrs: Attrs,
    policy: PPolicy | None,
    *,
    go_live: dt.datetime,
    now: dt.datetime,
    policy_note: str = "",
    must_change_blocks: bool = False,
    expiring: str = "warn",
) -> AccountState:
    """Evaluate one entry's ppolicy state at ``go_live`` (lockout headroom as of ``now``).

    ``policy`` None means the applicable policy is unknown (not readable): the state
    then carries ``lockout_unknown``/``expiry_unknown`` instead of "no lockout".
    ``must_change_blocks`` and ``expiring`` ("warn" or "fail") are the programme's
    password settings (readiness.inventory.models.Passwords).
    """
    findings: list[Finding] = []
    locked_now = False
    lockout_on = bool(policy and policy.lockout)
    pol = policy.describe() if policy else "the applicable password policy is unknown"
    if policy_note:
        pol = f"{pol} ({policy_note})"

    locked_raw = _first(attrs, "pwdAccountLockedTime")
    if locked_raw is not None and not lockout_on:
        # pwdLockout FALSE: the stored lock time does not lock (slapo-ppolicy); with an
        # unknown policy the lock is undetermined (lockout_unknown below).
        pass
    elif locked_raw is not None and locked_raw.strip() == PERMANENT_LOCK:
        locked_now = True
        findings.append(
            Finding(
                "disabled",
                "fail",
                f"pwdAccountLockedTime {PERMANENT_LOCK} (permanent lock); {pol}",
                "the person cannot log in at all on Day 1: the account is administratively "
                "disabled",
                "if the person should work on Day 1, an administrator removes "
                "pwdAccountLockedTime from the entry (ldapmodify ... delete: pwdAccountLockedTime)",
                expected="no permanent lock",
                blocks_now=True,
            )
        )
    elif locked_raw is not None:
        try:
            locked_at = parse_gentime(locked_raw)
        except (ValueError, IndexError, OverflowError):
            locked_at = None
        assert policy is not None
        if locked_at is None:
            locked_now = True
            findings.append(
                Finding(
                    "locked",
                    "fail",
                    f"pwdAccountLockedTime {locked_raw!r} (unparseable); {pol}",
                    "the server may refuse every login",
                    "fix or remove pwdAccountLockedTime",
                    blocks_now=True,
                )
            )
        elif policy.lockout_duration == 0:
            locked_now = True
            findings.append(
                Finding(
                    "locked",
                    "fail",
                    f"pwdAccountLockedTime {locked_raw} with pwdLockoutDuration 0 (locked until "
                    f"an administrator resets it); {pol}",
                    "the person cannot log in on Day 1 until the lock is cleared",
                    "an administrator clears the lock (delete pwdAccountLockedTime) after checking "
                    "why it was locked (repeated failed logins)",
                    expected="not locked",
                    blocks_now=True,
                )
            )
        else:
            ends = locked_at + dt.timedelta(seconds=policy.lockout_duration)
            if ends > now:
                locked_now = True
            if ends > go_live:
                findings.append(
                    Finding(
                        "locked",
                        "fail",
                        f"locked at {_fmt(locked_at)}, the lock ends {_fmt(ends)}, after go-live; "
                        f"{pol}",
                        "the person cannot log in when Day 1 starts",
                        "clear the lock (delete pwdAccountLockedTime) and find out which device "
                        "keeps failing logins",
                        expected="not locked at go-live",
                        blocks_now=ends > now,
                    )
                )
            elif ends > now:
                findings.append(
                    Finding(
                        "locked-until-before-go-live",
                        "warn",
                        f"locked at {_fmt(locked_at)}; the lock ends {_fmt(ends)}, before go-live",
                        "no Day-1 impact if nothing fails again; repeated failures will lock it "
                        "again",
                        "find the device or script that keeps failing logins for this account",
                        blocks_now=True,
                    )
                )
            # else: an expired lock is not a lock.
    tmp_end = _one_time(attrs, "pwdAccountTmpLockoutEnd")
    if tmp_end is not None and tmp_end > now:
        locked_now = True
        findings.append(
            Finding(
                "delayed",
                "warn",
                f"pwdAccountTmpLockoutEnd {_fmt(tmp_end)}: logins delayed",
                "logins are refused for a short time after failures",
                "wait, then retry once",
                blocks_now=True,
            )
        )

    start = _one_time(attrs, "pwdStartTime")
    if start is not None and start > go_live:
        findings.append(
            Finding(
                "not-yet-valid",
                "fail",
                f"pwdStartTime {_fmt(start)}, after go-live",
                "the password cannot be used when Day 1 starts",
                "set pwdStartTime to go-live or earlier (or remove it)",
                expected=f"pwdStartTime at or before {_fmt(go_live)}",
                blocks_now=start > now,
            )
        )
    end = _one_time(attrs, "pwdEndTime")
    if end is not None and end <= go_live:
        findings.append(
            Finding(
                "account-ended",
                "fail",
                f"pwdEndTime {_fmt(end)}, at or before go-live",
                "the password can no longer be used on Day 1 (account end date passed)",
                "remove pwdEndTime or move it past go-live if the person still works here",
                expected=f"no pwdEndTime before {_fmt(go_live)}",
                blocks_now=end <= now,
            )
        )

    must_change = _bool(attrs, "pwdReset")
    if must_change and (policy is None or policy.must_change):
        findings.append(must_change_finding(must_change_blocks))

    if policy is not None and policy.max_age > 0:
        # Without pwdChangedTime slapd cannot age the password: it does not expire.
        changed = _one_time(attrs, "pwdChangedTime")
        if changed is not None:
            expires = changed + dt.timedelta(seconds=policy.max_age)
            grace_used = len(_get(attrs, "pwdGraceUseTime"))
            grace_left = max(0, policy.grace_limit - grace_used)
            # pwdGraceExpiry: grace logins are allowed only so long after the expiry.
            grace_ends = (
                expires + dt.timedelta(seconds=policy.grace_expiry)
                if policy.grace_expiry > 0
                else None
            )
            grace_over = grace_ends is not None and grace_ends <= go_live
            rotates = expires > now and expiring == "warn" and policy.allow_user_change
            if expires <= go_live and rotates:
                findings.append(
                    rotation_finding(
                        f"pwdChangedTime {_fmt(changed)} + pwdMaxAge {policy.max_age}s",
                        expires,
                        go_live,
                    )
                )
            elif expires <= go_live:
                observed = (
                    f"pwdChangedTime {_fmt(changed)} + pwdMaxAge {policy.max_age}s = "
                    f"expiry {_fmt(expires)}, before go-live {_fmt(go_live)}"
                )
                if grace_left > 0 and not grace_over:
                    findings.append(
                        Finding(
                            "password-expired",
                            "fail",
                            f"{observed}; {grace_left} of {policy.grace_limit} grace login(s) left",
                            "the password will have expired on Day 1: the person gets only "
                            f"{grace_left} grace login(s) and must change it at once; applications "
                            "that only bind will fail",
                            "ask the person to change the password before go-live",
                            expected=f"password valid at {_fmt(go_live)}",
                            blocks_now=expires <= now,  # a bind now would spend a grace login
                        )
                    )
                else:
                    code = "grace-exhausted" if policy.grace_limit else "password-expired"
                    if grace_over and grace_ends is not None and grace_left > 0:
                        extra = (
                            f"; the grace period ended {_fmt(grace_ends)} "
                            f"(pwdGraceExpiry {policy.grace_expiry}s)"
                        )
                    elif policy.grace_limit:
                        extra = f"; grace logins used up ({grace_used} of {policy.grace_limit})"
                    else:
                        extra = ""
                    findings.append(
                        Finding(
                            code,
                            "fail",
                            observed + extra,
                            "the person cannot log in on Day 1: the password has expired",
                            "reset the password (an administrator sets a new one with pwdReset, or "
                            "the person changes it before go-live)",
                            expected=f"password valid at {_fmt(go_live)}",
                            blocks_now=expires <= now,
                        )
                    )
            elif expires <= go_live + EXPIRY_WARNING:
                findings.append(
                    Finding(
                        "password-expiring",
                        "warn",
                        f"the password expires {_fmt(expires)}, within "
                        f"{EXPIRY_WARNING.days} days after go-live",
                        "the person will be asked to change the password in the first days",
                        "ask the person to change the password before go-live",
                    )
                )

    headroom: int | None = None
    if lockout_on and policy is not None and policy.max_failure > 0:
        headroom = (
            0 if locked_now else max(0, policy.max_failure - counted_failures(attrs, policy, now))
        )
    elif locked_now:
        headroom = 0
    unknown = expiry_unknown = ""
    if policy is None:
        why = policy_note or "the applicable password policy could not be read"
        unknown = f"{why}: the lock state and lockout headroom cannot be judged"
        if locked_raw is not None:
            unknown += f" (pwdAccountLockedTime {locked_raw} is set)"
        if _one_time(attrs, "pwdChangedTime") is not None:  # else it cannot expire
            expiry_unknown = f"{why}: pwdMaxAge, so the password's expiry, is unknown"
    return AccountState(
        findings=findings,
        lockout_headroom=headroom,
        observed=pol,
        lockout_unknown=unknown,
        expiry_unknown=expiry_unknown,
    )


def own_policy(attrs: Attrs) -> str | None:
    """The entry's own pwdPolicySubentry, if it names one."""
    return _first(attrs, "pwdPolicySubentry")


def policy_for(
    attrs: Attrs,
    policies: Mapping[str, PPolicy],
    default_dn: str | None,
) -> tuple[PPolicy | None, str]:
    """The applicable policy: the entry's pwdPolicySubentry, else the default.

    None (with the reason) when that policy is not in ``policies``: UNKNOWN, which the
    caller must not treat as "no lockout".
    """
    sub = _first(attrs, "pwdPolicySubentry")
    if sub:
        found = policies.get(normalise_dn(sub))
        if found is not None:
            return found, "from pwdPolicySubentry"
        return None, f"pwdPolicySubentry {sub} not readable"
    if default_dn:
        found = policies.get(normalise_dn(default_dn))
        if found is not None:
            return found, "default policy"
        return None, f"default policy {default_dn} not found"
    return None, "no default policy configured (set default_policy on the directory)"


def normalise_dn(dn: str) -> str:
    """Lower-cased, without blanks around the commas (enough to compare DNs we read)."""
    lowered = dn.lower()
    if ", " not in lowered and " ," not in lowered:
        return lowered
    return ",".join(part.strip() for part in lowered.split(","))

"""Active Directory account state, judged at go-live: pure functions, no I/O.

The identity family fetches, with one paged search per kind (people, the domain
object, PSOs), the attributes in :data:`AD_ATTRIBUTES` and :data:`DOMAIN_ATTRIBUTES`
/ :data:`PSO_ATTRIBUTES`, builds an :class:`ADPolicy` with
:func:`policy_from_entries` and calls :func:`evaluate_ad_account` per person::

    policy = policy_from_entries(domain_entry, pso_entries)
    state = evaluate_ad_account(entry, policy, go_live=go_live, now=now)
    state.findings          # tuple of Finding (code, severity, observed, impact, hint)
    state.lockout_headroom  # failed binds left before a lock; None: no lockout policy

Entries are mappings of attribute name (any case) to a value or a list of values,
as ldap3 returns them: raw (``str``/``bytes``/``int``) or formatted by ldap3's AD
formatters (``datetime`` for FILETIMEs, ``timedelta`` for intervals).

AD semantics (MS-ADTS; traps from ``DOMAIN.md``):

- ``userAccountControl``: 0x2 disabled (fail), 0x20 password not required (warn,
  hygiene), 0x10000 password never expires. Its lockout (0x10) and
  password-expired (0x800000) bits are NOT maintained by AD and are never read.
- Locked: ``msDS-User-Account-Control-Computed`` bit 0x10 when fetched, otherwise
  ``lockoutTime`` non-zero and younger than the lockout duration (the PSO's when
  ``msDS-ResultantPSO`` names one). An expired lock is not a lock. A lock that runs
  out before go-live is a ``warn`` (pilot binds impossible until then), else ``fail``.
- ``pwdLastSet`` 0 = must change at next logon (``warn``, code ``must-change``; a
  ``fail`` when the programme says it blocks), unless the password never expires (then
  AD lets the user in: not flagged). The computed 0x800000 bit that accompanies
  ``pwdLastSet`` 0 is must-change, not an expired password.
- Password expiry = ``msDS-UserPasswordExpiryTimeComputed`` when fetched (the DC's
  own computation), else ``pwdLastSet`` + ``maxPwdAge`` (or the PSO's
  ``msDS-MaximumPasswordAge``), judged at go-live: already expired = fail; valid now
  but expiring before go-live = normal rotation, a ``warn`` with the date (the person
  is prompted and changes it), unless the account cannot change its password
  (``PASSWD_CANT_CHANGE`` 0x40) or the programme counts it as expired
  (``expiring="fail"``); expiring within ``policy.expiry_warning`` after go-live =
  warn. A ``maxPwdAge`` of 0 or the minimum int64 means "never".
- ``accountExpires`` 0 or 0x7FFFFFFFFFFFFFFF = never; otherwise a FILETIME judged at
  go-live (already expired / before go-live = fail; within the warning window = warn).
- Lockout headroom = threshold - effective ``badPwdCount`` (0 once the
  ``badPasswordTime`` is older than the observation window, as the DC resets it at
  the next failure; 0 headroom while locked). ``badPwdCount`` is per DC (not
  replicated): read it from the DC that authenticates (the PDC emulator) or take
  the maximum over DCs before calling this. A threshold of 0 = no lockout (headroom
  None); a ``msDS-ResultantPSO`` the service account cannot read leaves the headroom
  UNKNOWN (``AccountState.lockout_unknown``), never the domain's threshold.

:func:`map_bind_diagnostic` maps a failed bind's AD diagnostic (LDAP result 49,
``data 52e`` ...) to a reason code and a sentence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .state import AccountState, Finding, must_change_finding, rotation_finding

__all__ = [
    "AD_ATTRIBUTES",
    "BIND_DIAGNOSTICS",
    "DOMAIN_ATTRIBUTES",
    "IN_CHAIN",
    "PSO_ATTRIBUTES",
    "ADPolicy",
    "PasswordSettings",
    "datetime_to_filetime",
    "evaluate_ad_account",
    "filetime_to_datetime",
    "in_chain_filter",
    "map_bind_diagnostic",
    "policy_from_entries",
]

# Attributes of a user entry the evaluation reads (ask for them by name: the
# constructed ones are only returned when requested).
AD_ATTRIBUTES: tuple[str, ...] = (
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "proxyAddresses",
    "telephoneNumber",
    "memberOf",
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "msDS-UserPasswordExpiryTimeComputed",
    "msDS-ResultantPSO",
    "lockoutTime",
    "badPwdCount",
    "badPasswordTime",
    "pwdLastSet",
    "accountExpires",
)
# Attributes of the domain object (base DN, scope base).
DOMAIN_ATTRIBUTES: tuple[str, ...] = (
    "lockoutThreshold",
    "lockoutDuration",
    "lockOutObservationWindow",
    "maxPwdAge",
    "minPwdAge",
    "pwdProperties",
)
# Attributes of msDS-PasswordSettings objects (CN=Password Settings Container,CN=System).
PSO_ATTRIBUTES: tuple[str, ...] = (
    "cn",
    "msDS-PasswordSettingsPrecedence",
    "msDS-MaximumPasswordAge",
    "msDS-LockoutThreshold",
    "msDS-LockoutDuration",
    "msDS-LockoutObservationWindow",
    "msDS-PSOAppliesTo",
)

# LDAP_MATCHING_RULE_IN_CHAIN: transitive (nested) group membership in one search.
IN_CHAIN = "1.2.840.113556.1.4.1941"

UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_PASSWD_NOTREQD = 0x20
UF_PASSWD_CANT_CHANGE = 0x40
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_PASSWORD_EXPIRED = 0x800000

FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF
_INT64_MIN = -0x8000000000000000
_EPOCH_1601 = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
_TICKS = 10_000_000  # FILETIME ticks per second


# --------------------------------------------------------------------------- time


def filetime_to_datetime(value: int) -> dt.datetime | None:
    """A FILETIME as an aware UTC datetime; None for 0 and "never" (int64 max, or any
    time after the year 9999)."""
    if value <= 0 or value >= FILETIME_NEVER:
        return None
    try:
        return _EPOCH_1601 + dt.timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def datetime_to_filetime(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value.astimezone(dt.UTC) - _EPOCH_1601
    return (delta.days * 86400 + delta.seconds) * _TICKS + delta.microseconds * 10


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class PasswordSettings:
    """Effective password/lockout settings: the domain's or one PSO's.

    ``None`` durations mean: ``max_pwd_age`` never expires; ``lockout_duration``
    locked until an administrator unlocks; ``observation_window`` failures never
    age out. ``lockout_threshold`` 0 = no lockout.
    """

    max_pwd_age: dt.timedelta | None = None
    lockout_threshold: int = 0
    lockout_duration: dt.timedelta | None = dt.timedelta(minutes=30)
    observation_window: dt.timedelta | None = dt.timedelta(minutes=30)
    source: str = "domain"  # "domain" or the PSO's DN


@dataclass(frozen=True)
class ADPolicy:
    """The domain's settings, the PSOs by (normalised) DN, and the warning window."""

    lockout_threshold: int = 0
    lockout_duration: dt.timedelta | None = dt.timedelta(minutes=30)
    observation_window: dt.timedelta | None = dt.timedelta(minutes=30)
    max_pwd_age: dt.timedelta | None = None
    psos: Mapping[str, PasswordSettings] = field(default_factory=dict)
    # A password or account expiring less than this after go-live is a warning.
    expiry_warning: dt.timedelta = dt.timedelta(days=14)

    @property
    def domain(self) -> PasswordSettings:
        return PasswordSettings(
            self.max_pwd_age,
            self.lockout_threshold,
            self.lockout_duration,
            self.observation_window,
            "domain",
        )

    def settings_for(self, resultant_pso: str | None) -> PasswordSettings:
        """The PSO named by ``msDS-ResultantPSO`` if known, else the domain's (callers
        check :meth:`knows` first: an unreadable PSO is not the domain policy)."""
        if resultant_pso:
            found = self.psos.get(_norm_dn(resultant_pso))
            if found is not None:
                return found
        return self.domain

    def knows(self, resultant_pso: str | None) -> bool:
        """Whether the settings applying to an entry with this msDS-ResultantPSO are
        known (no PSO applies, or the service account could read it)."""
        return not resultant_pso or _norm_dn(resultant_pso) in self.psos


def policy_from_entries(
    domain_entry: Mapping[str, Any],
    pso_entries: Iterable[Mapping[str, Any]] = (),
    *,
    expiry_warning: dt.timedelta = dt.timedelta(days=14),
) -> ADPolicy:
    """Build the policy from the domain object and the msDS-PasswordSettings entries.

    A PSO entry must carry its DN as ``dn`` / ``distinguishedName`` (ldap3's
    ``entry_dn`` or the search response's ``dn``).
    """
    d = _ci(domain_entry)
    psos: dict[str, PasswordSettings] = {}
    for raw in pso_entries:
        p = _ci(raw)
        dn = _str(p.get("dn")) or _str(p.get("distinguishedname")) or _str(p.get("entry_dn"))
        if not dn:
            raise ValueError("a PSO entry without its DN")
        psos[_norm_dn(dn)] = PasswordSettings(
            max_pwd_age=_pwd_age(p.get("msds-maximumpasswordage")),
            lockout_threshold=_int(p.get("msds-lockoutthreshold")) or 0,
            lockout_duration=_lock_duration(p.get("msds-lockoutduration")),
            observation_window=_window(p.get("msds-lockoutobservationwindow")),
            source=dn,
        )
    return ADPolicy(
        lockout_threshold=_int(d.get("lockoutthreshold")) or 0,
        lockout_duration=_lock_duration(d.get("lockoutduration")),
        observation_window=_window(d.get("lockoutobservationwindow")),
        max_pwd_age=_pwd_age(d.get("maxpwdage")),
        psos=psos,
        expiry_warning=expiry_warning,
    )


# --------------------------------------------------------------------------- evaluation


def evaluate_ad_account(
    entry: Mapping[str, list[Any] | Any],
    policy: ADPolicy,
    *,
    go_live: dt.datetime,
    now: dt.datetime,
    must_change_blocks: bool = False,
    expiring: str = "warn",
) -> AccountState:
    """Judge whether the account in ``entry`` is usable on ``go_live``.

    ``now`` is when the entry was read (locks and bad-password counts are judged
    at that moment); expiry of passwords and accounts is judged at ``go_live``.
    ``must_change_blocks`` and ``expiring`` ("warn" or "fail") are the programme's
    password settings (readiness.inventory.models.Passwords).
    """
    now, go_live = _aware(now), _aware(go_live)
    e = _ci(entry)
    uac = _int(e.get("useraccountcontrol")) or 0
    computed = _int(e.get("msds-user-account-control-computed"))
    resultant = _str(e.get("msds-resultantpso"))
    settings = policy.settings_for(resultant)
    unknown = (
        ""
        if policy.knows(resultant)
        else (
            f"msDS-ResultantPSO {resultant} is not readable by the service account: the "
            "lockout threshold, lockout duration and password age that apply are unknown"
        )
    )
    findings: list[Finding] = []
    details: dict[str, str] = {"userAccountControl": hex(uac), "policy": settings.source}
    if computed is not None:
        details["msDS-User-Account-Control-Computed"] = hex(computed)

    if uac & UF_ACCOUNTDISABLE:
        findings.append(
            Finding(
                "disabled",
                "fail",
                f"userAccountControl {uac:#x} (ACCOUNTDISABLE 0x2)",
                "the person cannot log in to anything that uses this directory",
                "enable the account (clear userAccountControl bit 0x2) before go-live",
                expected="ACCOUNTDISABLE not set",
                blocks_now=True,
            )
        )

    locked, lock_end = _lock_state(e, computed, settings, now)
    if locked:
        findings.append(_locked_finding(lock_end, go_live, computed))

    never_expires = bool(uac & UF_DONT_EXPIRE_PASSWD)
    pwd_last_set = _filetime(e.get("pwdlastset"))
    if pwd_last_set == 0:
        if not never_expires:
            findings.append(must_change_finding(must_change_blocks, "pwdLastSet 0"))
    elif not never_expires:
        rotates = expiring == "warn" and not uac & UF_PASSWD_CANT_CHANGE
        findings += _password_expiry(
            e, computed, settings, pwd_last_set, policy, go_live, now, details, rotates
        )

    findings += _account_expiry(e, policy, go_live, now, details)

    if uac & UF_PASSWD_NOTREQD:
        findings.append(
            Finding(
                "password-not-required",
                "warn",
                f"userAccountControl {uac:#x} (PASSWD_NOTREQD 0x20)",
                "the account may hold an empty password: a security finding, not a login blocker",
                "clear userAccountControl bit 0x20 and set a password",
                expected="PASSWD_NOTREQD not set",
            )
        )

    headroom = None if unknown else _headroom(e, settings, locked, now)
    expiry_unknown = ""
    if (
        unknown
        and not never_expires
        and pwd_last_set != 0
        and not _present(e.get("msds-userpasswordexpirytimecomputed"))
    ):
        expiry_unknown = unknown  # no DC-computed expiry to fall back on
    observed = ", ".join(f"{k}={v}" for k, v in details.items())
    return AccountState(
        findings=tuple(findings),
        lockout_headroom=headroom,
        observed=observed,
        details=details,
        lockout_unknown=unknown,
        expiry_unknown=expiry_unknown,
    )


def _lock_state(
    e: Mapping[str, Any], computed: int | None, settings: PasswordSettings, now: dt.datetime
) -> tuple[bool, dt.datetime | None]:
    """(locked now, when the lock ends or None for "until unlocked")."""
    lockout_time = filetime_to_datetime(_filetime(e.get("lockouttime")) or 0)
    end: dt.datetime | None = None
    if lockout_time is not None and settings.lockout_duration is not None:
        with contextlib.suppress(OverflowError):  # ends after the year 9999: never
            end = lockout_time + settings.lockout_duration
    if computed is not None:
        return bool(computed & UF_LOCKOUT), end
    if lockout_time is None:
        return False, None
    return (end is None or end > now), end


def _locked_finding(
    lock_end: dt.datetime | None, go_live: dt.datetime, computed: int | None
) -> Finding:
    source = (
        "msDS-User-Account-Control-Computed LOCKOUT 0x10"
        if computed is not None
        else "lockoutTime within the lockout duration"
    )
    if lock_end is not None and lock_end <= go_live:
        return Finding(
            "locked",
            "warn",
            f"{source}; the lock ends {_fmt(lock_end)}",
            "locked now; the lock runs out before go-live, but any bind until then fails "
            "and more failures extend it",
            "find the source of the failed logons (old password on a phone or mapped "
            "drive) or unlock the account",
            expected="not locked",
            blocks_now=True,
        )
    until = (
        "until an administrator unlocks it"
        if lock_end is None
        else (f"until {_fmt(lock_end)}, after go-live")
    )
    return Finding(
        "locked",
        "fail",
        f"{source}; locked {until}",
        "the person cannot log in on go-live day",
        "unlock the account (lockoutTime 0) and find the source of the failed logons",
        expected="not locked",
        blocks_now=True,
    )


def _password_expiry(
    e: Mapping[str, Any],
    computed: int | None,
    settings: PasswordSettings,
    pwd_last_set: int | None,
    policy: ADPolicy,
    go_live: dt.datetime,
    now: dt.datetime,
    details: dict[str, str],
    rotates: bool,
) -> list[Finding]:
    expiry: dt.datetime | None = None
    raw_expiry = e.get("msds-userpasswordexpirytimecomputed")
    if raw_expiry is not None and _present(raw_expiry):
        expiry = filetime_to_datetime(_filetime(raw_expiry) or 0)
        how = "msDS-UserPasswordExpiryTimeComputed"
    else:
        set_at = filetime_to_datetime(pwd_last_set or 0)
        if set_at is not None and settings.max_pwd_age is not None:
            expiry = set_at + settings.max_pwd_age
        how = f"pwdLastSet + maxPwdAge ({settings.source})"
    expired_now = (
        bool(computed & UF_PASSWORD_EXPIRED)
        if computed is not None
        else expiry is not None and expiry <= now
    )
    if expiry is not None:
        details["passwordExpires"] = _fmt(expiry)
    hint = "have the person change the password before go-live (or extend it under the policy)"
    if expired_now:
        when = f"expired {_fmt(expiry)}" if expiry else "expired"
        src = (
            "msDS-User-Account-Control-Computed PASSWORD_EXPIRED 0x800000"
            if computed is not None
            else how
        )
        return [
            Finding(
                "password-expired",
                "fail",
                f"{src}: password {when}",
                "logins fail until the password is changed; many apps cannot prompt for a change",
                hint,
                expected="password valid at go-live",
                blocks_now=True,
            )
        ]
    if expiry is None:
        return []
    if expiry <= go_live and rotates:
        return [rotation_finding(how, expiry, go_live)]
    if expiry <= go_live:
        return [
            Finding(
                "password-expires-before-go-live",
                "fail",
                f"{how}: password expires {_fmt(expiry)}, before go-live {_fmt(go_live)}",
                "on go-live day the password has expired and logins fail",
                hint,
                expected=f"password valid on {_fmt(go_live)}",
            )
        ]
    if expiry <= go_live + policy.expiry_warning:
        days = (expiry - go_live).days
        return [
            Finding(
                "password-expires-soon-after-go-live",
                "warn",
                f"{how}: password expires {_fmt(expiry)}, {days} day(s) after go-live",
                "the password will need changing in the first days after go-live, "
                "when support is busiest",
                hint,
                expected=f"valid for more than {policy.expiry_warning.days} days after go-live",
            )
        ]
    return []


def _account_expiry(
    e: Mapping[str, Any],
    policy: ADPolicy,
    go_live: dt.datetime,
    now: dt.datetime,
    details: dict[str, str],
) -> list[Finding]:
    raw = _filetime(e.get("accountexpires"))
    expires = filetime_to_datetime(raw or 0)  # 0 and int64 max: never
    if expires is None:
        return []
    details["accountExpires"] = _fmt(expires)
    hint = "extend or clear accountExpires if the person is staying after go-live"
    if expires <= now:
        return [
            Finding(
                "account-expired",
                "fail",
                f"accountExpires {_fmt(expires)} (past)",
                "the account has expired: no login is possible",
                hint,
                expected="accountExpires never or after go-live",
                blocks_now=True,
            )
        ]
    if expires <= go_live:
        return [
            Finding(
                "account-expires-before-go-live",
                "fail",
                f"accountExpires {_fmt(expires)}, before go-live {_fmt(go_live)}",
                "the account will have expired on go-live day",
                hint,
                expected="accountExpires never or after go-live",
            )
        ]
    if expires <= go_live + policy.expiry_warning:
        return [
            Finding(
                "account-expires-soon-after-go-live",
                "warn",
                f"accountExpires {_fmt(expires)}, shortly after go-live",
                "the account stops working in the first days after go-live",
                hint,
                expected=f"more than {policy.expiry_warning.days} days after go-live",
            )
        ]
    return []


def _headroom(
    e: Mapping[str, Any], settings: PasswordSettings, locked: bool, now: dt.datetime
) -> int | None:
    if settings.lockout_threshold <= 0:
        return None
    if locked:
        return 0
    count = _int(e.get("badpwdcount")) or 0
    last_bad = filetime_to_datetime(_filetime(e.get("badpasswordtime")) or 0)
    window = settings.observation_window
    if count and last_bad is not None and window is not None and last_bad + window <= now:
        count = 0  # the DC restarts the count at the next failure
    return max(settings.lockout_threshold - count, 0)


# --------------------------------------------------------------------------- groups


def in_chain_filter(group_dn: str) -> str:
    """A filter matching every member of ``group_dn``, nested memberships included."""
    return f"(memberOf:{IN_CHAIN}:={_escape_filter(group_dn)})"


def _escape_filter(value: str) -> str:
    out = []
    for ch in value:
        if ch in "*()\\\0":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- binds

# AD's "data <code>" in the diagnostic of an invalidCredentials (49) bind result:
# (reason code, what it means, what to do).
BIND_DIAGNOSTICS: dict[str, tuple[str, str, str]] = {
    "525": (
        "no-such-user",
        "the directory has no account with this name",
        "create the account, or fix the pilot's username in the inventory",
    ),
    "52e": (
        "bad-password",
        "the password is wrong (the account itself is usable)",
        "update the secret the pilot's credential reference points at (no retry was made)",
    ),
    "530": (
        "logon-hours",
        "the account may not log in at this time (logon hours)",
        "allow logons at the Day-1 hours (logonHours)",
    ),
    "531": (
        "workstation",
        "the account may not log in from this workstation",
        "allow logons from the Day-1 devices (userWorkstations)",
    ),
    "532": (
        "password-expired",
        "the password has expired and must be changed",
        "have the pilot change the password before go-live",
    ),
    "533": (
        "disabled",
        "the account is disabled",
        "enable the account (clear userAccountControl bit 0x2)",
    ),
    "568": (
        "too-many-sids",
        "the account is in too many groups (token too large)",
        "remove the account from the groups it does not need",
    ),
    "701": (
        "account-expired",
        "the account has expired (accountExpires)",
        "extend or clear accountExpires",
    ),
    "773": (
        "must-change",
        "the password must be changed before the first login "
        "(pwdLastSet 0 / reset by an administrator)",
        "have the pilot change the password on a domain-joined device before go-live",
    ),
    "775": (
        "locked",
        "the account is locked out after too many failed logons",
        "unlock the account and find the source of the failed logons",
    ),
}
_DATA = re.compile(r"\bdata\s+([0-9a-f]{3,8})\b", re.IGNORECASE)


def map_bind_diagnostic(message: str) -> tuple[str, str, str]:
    """(reason code, what it means, what to do) for a failed AD bind's diagnostic.

    ``"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error,
    data 775, v1db1"`` -> ``("locked", ...)``. Unknown or missing codes give
    ``("unknown", ...)``; the message itself is not echoed.
    """
    match = _DATA.search(message or "")
    if match is None:
        return (
            "unknown",
            "the bind was refused without an AD reason code",
            "read the domain controller's security log for this bind",
        )
    code = match.group(1).lower().lstrip("0") or "0"
    return BIND_DIAGNOSTICS.get(
        code,
        (
            "unknown",
            f"the bind was refused with AD reason code {code}",
            "read the domain controller's security log for this bind",
        ),
    )


# --------------------------------------------------------------------------- values


def _ci(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Lower-cased attribute names; single-valued lists unwrapped (multi kept)."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, list | tuple):
            if not value:
                continue
            value = value[0] if len(value) == 1 else list(value)
        out[key.lower()] = value
    return out


def _present(value: Any) -> bool:
    return value not in (None, "", b"", [])


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, list):
        value = value[0] if value else None
        return _str(value)
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _str(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _filetime(value: Any) -> int | None:
    """A FILETIME from a raw integer or an ldap3-formatted datetime."""
    if isinstance(value, dt.datetime):
        aware = _aware(value)
        if aware.year >= 9999:
            return FILETIME_NEVER
        if aware <= _EPOCH_1601:
            return 0
        return datetime_to_filetime(aware)
    return _int(value)


def _interval(value: Any) -> int | None:
    """An AD interval as positive ticks; -1 for "never"/"forever"; None if absent."""
    if isinstance(value, dt.timedelta):
        if value == dt.timedelta.max:
            return -1
        return abs(int(value.total_seconds() * _TICKS))
    raw = _int(value)
    if raw is None:
        return None
    if raw == _INT64_MIN or abs(raw) > FILETIME_NEVER:  # beyond int64: no real interval
        return -1
    return abs(raw)


def _pwd_age(value: Any) -> dt.timedelta | None:
    """maxPwdAge: 0 or int64 min = passwords never expire."""
    ticks = _interval(value)
    if ticks is None or ticks <= 0:
        return None
    return dt.timedelta(microseconds=ticks // 10)


def _lock_duration(value: Any) -> dt.timedelta | None:
    """lockoutDuration: 0 or int64 min = locked until an administrator unlocks."""
    ticks = _interval(value)
    if ticks is None:
        return dt.timedelta(minutes=30)  # AD's default when unset
    if ticks <= 0:
        return None
    return dt.timedelta(microseconds=ticks // 10)


def _window(value: Any) -> dt.timedelta | None:
    ticks = _interval(value)
    if ticks is None:
        return dt.timedelta(minutes=30)
    if ticks <= 0:
        return None
    return dt.timedelta(microseconds=ticks // 10)


def _norm_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.split(",")).lower()


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _fmt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

"""The pilot login: one real bind per pilot and sweep, only when it cannot lock the
account (attempt reserved in the ledger, other sweeps' in-flight attempts counted, the
headroom read fresh), never retried; and what the directory's answer to it means."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from readiness.family import BatchAbandoned, Probe
from readiness.inventory.models import Staff
from readiness.results import Origin, Result, Status

from .check_ids import EXISTS, FAMILY, PILOT
from .client import DirectoryError, Endpoint
from .evaluation import _POLICY_HINT, DECLARED_NONE, DirectoryEvaluation
from .snapshot import MATCH_FIELD, _ad, _key_of, _norm, _Reader, _vals, people_attributes

# LDAP results of a pilot bind that are the directory's answer about the credential or
# the account (the pilot cannot log in); any other code means "could not find out".
BIND_REFUSED = frozenset({48, 49, 50, 53})


def account_id(attrs: Mapping[str, Any], dn: str) -> str:
    """The account as the server knows it: its objectGUID (AD: stable across renames and
    moves), else its DN."""
    guid = _vals(attrs, "objectGUID")
    return f"guid:{guid[0]}" if guid else f"dn:{_norm(dn)}"


class PilotLogin:
    """At most one real bind as a pilot account, under the lockout-safety rules."""

    def __init__(self, ev: DirectoryEvaluation) -> None:
        self.ev = ev

    def pilot(self, probe: Probe[Any], person: Staff) -> Iterator[Result]:
        started = time.perf_counter()
        for result in self._pilot(probe, person):
            yield replace(result, duration_ms=(time.perf_counter() - started) * 1000)

    def _pilot(self, probe: Probe[Any], person: Staff) -> Iterator[Result]:
        from readiness.ledger import BudgetExceeded, LedgerError
        from readiness.secrets import SecretError

        d = self.ev.d
        if not _key_of(d, person):
            yield self.ev.result(
                probe,
                PILOT,
                Status.ERROR,
                f"pilot login not attempted: {person.key} has no "
                f"{MATCH_FIELD[d.match]} in the inventory",
                expected=f"a {MATCH_FIELD[d.match]} in the inventory",
                observed="empty",
                impact="whether the pilot can log in is unknown",
                hint=f"add the person's {MATCH_FIELD[d.match]}",
                root_cause=f"{EXISTS}|{self.ev.dir_id}|inventory",
            )
            return
        entry = self.ev.entry(person)
        if entry is None:
            yield self.ev.result(
                probe,
                PILOT,
                Status.FAIL,
                f"pilot login not attempted: no single account for {person.key}",
                expected="the pilot account exists",
                observed="not found",
                impact="the pilot cannot log in on Day 1",
                hint="see identity.account-exists",
                root_cause=f"{EXISTS}|{self.ev.dir_id}",
            )
            return
        dn, attrs = entry
        reference = person.credential_for(self.ev.dir_id)
        if reference is None:
            # Its credentials are for other directories: no attempt is spent here.
            yield self.ev.result(
                probe,
                PILOT,
                Status.SKIP,
                f"{person.key} is a pilot without a credential for {self.ev.dir_id}: no "
                "login attempted here",
                hint=f"add `credentials: {{{self.ev.dir_id}: file:...}}` (or `credential`) to "
                "the pilot's record if it should log in here",
                root_cause=f"{PILOT}|{self.ev.dir_id}|no-credential",
            )
            return
        try:
            password = self.ev.ctx.secret(reference)
        except SecretError as exc:
            yield self.ev.result(
                probe,
                PILOT,
                Status.ERROR,
                f"pilot credential unreadable: {exc}",
                impact="the pilot login was not attempted",
                hint="fix the pilot's credential reference",
                root_cause=f"{PILOT}|{self.ev.dir_id}|secret",
                origin=Origin.CONFIG,
            )
            return
        reader = _Reader(self.ev.dir_id, d, self.ev.ctx)
        key = _key_of(d, person)
        label = f"{self.ev.dir_id}/{key}"
        window = dt.timedelta(hours=d.attempt_window_hours)
        try:
            reservation = self.ev.ctx.ledger.reserve(
                self.ev.snap.server_identity,
                account_id(attrs, dn),
                now=self.ev.now,
                sweep=self.ev.ctx.sweep_id,
                family=FAMILY,
                max_failures=d.attempt_budget,
                window=window,
                label=label,
                # Older ledgers keyed the account by the inventory's names.
                aliases=[(self.ev.dir_id, key)],
            )
        except BudgetExceeded as exc:
            yield self.ev.result(
                probe,
                PILOT,
                Status.ERROR,
                f"pilot login not attempted: {exc}",
                expected="attempt budget available",
                observed=str(exc),
                impact="whether the pilot can log in is unknown",
                hint="fix the pilot's password and wait for the budget window, "
                "or raise attempt_budget deliberately",
                root_cause=f"{PILOT}|{self.ev.dir_id}|budget",
            )
            return
        except LedgerError as exc:
            yield self.ev.result(
                probe,
                PILOT,
                Status.ERROR,
                f"pilot login not attempted: {exc}",
                impact="whether the pilot can log in is unknown",
                hint="use a state folder this version can read (--state-dir)",
                root_cause=f"{PILOT}|{self.ev.dir_id}|ledger",
            )
            return
        server = Endpoint.parse(d.url).server_key
        with self.ev.ctx.limit(server, d.max_concurrency):
            results = self._attempt(probe, reader, reservation, dn, password)
        yield from results

    def _attempt(
        self, probe: Probe[Any], reader: _Reader, reservation: Any, dn: str, password: Any
    ) -> list[Result]:
        """After the reservation: the headroom check and at most one bind. The ledger
        row is finished (NOT_SENT unless a bind was sent) before any result is handed
        on, so other sweeps never wait on a reservation this one has given up."""
        from readiness.ledger import Outcome

        d = self.ev.d
        realm, acct = reservation.realm, reservation.account
        sent = False
        try:
            # Other sweeps' attempts on this account still in flight, counted BEFORE the
            # server's headroom is read: their binds reaching the server after the read
            # are subtracted here, those finished before it are in the read. So
            # concurrent sweeps never spend the last attempts together.
            others = self.ev.ctx.ledger.in_flight(
                realm,
                acct,
                exclude=reservation,
                now=self.ev.now,
                window=dt.timedelta(hours=d.attempt_window_hours),
            )
            refusal, lockout = self._headroom_refusal(reader, dn, others)
            if refusal is not None:
                reason, hint = refusal
                return [
                    self.ev.result(
                        probe,
                        PILOT,
                        Status.ERROR,
                        f"pilot login not attempted: {reason}",
                        expected=f">= {d.min_headroom} attempts of lockout headroom",
                        observed=reason,
                        impact="whether the pilot can log in is unknown; a bind "
                        "now could lock the account",
                        hint=hint,
                        root_cause=f"{PILOT}|{self.ev.dir_id}|headroom",
                    )
                ]
            try:
                session = reader.session()
            except DirectoryError as exc:
                return [
                    self.ev.result(
                        probe,
                        PILOT,
                        Status.ERROR,
                        f"pilot login not attempted: {exc.message}",
                        observed=exc.message,
                        hint=exc.hint,
                        impact="whether the pilot can log in is unknown",
                        root_cause=f"identity.directory|{self.ev.dir_id}|{exc.code}",
                    )
                ]
            if self.ev.ctx.abandoned:  # the sweep gave up on this batch: spend nothing
                session.close()
                raise BatchAbandoned(f"pilot login of {dn} abandoned before the bind")
            try:
                sent = True
                result = session.bind(dn, password)
            except DirectoryError as exc:
                # The bind may have reached the server: count it as a failure, never retry.
                self.ev.ctx.ledger.record(reservation, Outcome.FAILURE, exc.code)
                return [
                    self.ev.result(
                        probe,
                        PILOT,
                        Status.ERROR,
                        f"pilot bind interrupted: {exc.message}",
                        observed=exc.message,
                        hint=exc.hint,
                        impact="whether the pilot can log in is unknown",
                        root_cause=f"identity.directory|{self.ev.dir_id}|{exc.code}",
                    )
                ]
            finally:
                session.close()
            return list(self._bind_result(probe, reservation, dn, result, lockout))
        finally:
            if not sent:
                # Nothing reached the server (refused, unreachable, or a crash before the
                # bind): the reserved attempt is free again.
                self.ev.ctx.ledger.record(reservation, Outcome.NOT_SENT, "not sent")

    def _headroom_refusal(
        self, reader: _Reader, dn: str, in_flight: int = 0
    ) -> tuple[tuple[str, str] | None, str]:
        """Read the account's lockout state fresh: ((reason, hint) when a bind now is
        refused: the account is unusable NOW, its lockout policy is unknown, or the
        headroom minus other sweeps' in-flight attempts is below ``min_headroom``; the
        lockout as the pilot-login result states it)."""
        d = self.ev.d
        retry = (
            "wait for the failure counter to reset (or reset it), fix the pilot's "
            "password, then sweep again"
        )
        try:
            session = reader.service_session()
            try:
                fresh = session.search(
                    dn, "(objectClass=*)", people_attributes(d), page_size=1, scope="BASE"
                )
            finally:
                session.close()
        except DirectoryError as exc:
            reason = f"the lockout headroom could not be read: {exc.message}"
            return (reason, exc.hint or retry), "unknown"
        if not fresh.entries:
            return (f"{dn} could not be read back", retry), "unknown"
        state = self.ev.state(dn + "#fresh", fresh.entries[0][1])
        headroom = state.lockout_headroom
        if state.lockout_unknown:
            lockout = "unknown"
        elif headroom is None:
            lockout = DECLARED_NONE if self.ev.declared_no_lockout else "none (policy read)"
        else:
            lockout = f"{headroom} attempt(s) left before the directory locks the account"
        # Only states that hold NOW block the bind (go-live-judged ones do not).
        blocking = [f for f in state.findings if f.blocks_now]
        if blocking:
            reason = f"the account is not usable now ({blocking[0].code}: {blocking[0].observed})"
            return (reason, blocking[0].hint), lockout
        if state.lockout_unknown:
            reason = f"the lockout headroom is unknown: {state.lockout_unknown}"
            hint = _POLICY_HINT[d.kind] + ", or declare lockout_policy: none if it has none"
            return (reason, hint), lockout
        if headroom is None:
            return None, lockout  # no lockout: the policy read, or the declaration, says so
        if headroom - in_flight < d.min_headroom:
            others = (
                f" minus {in_flight} attempt(s) other sweeps have in flight" if in_flight else ""
            )
            reason = (
                f"only {headroom} attempt(s) left before the directory locks {dn}"
                f"{others} (needs >= {d.min_headroom})"
            )
            return (reason, retry), lockout
        return None, lockout

    def _bind_result(
        self,
        probe: Probe[Any],
        reservation: Any,
        dn: str,
        result: Mapping[str, Any],
        lockout: str,
    ) -> Iterator[Result]:
        from readiness.ledger import Outcome

        code = int(result.get("result", -1))
        message = str(result.get("message", "") or "")
        pp = ppolicy_control(result)
        declared = f" ({DECLARED_NONE})" if lockout == DECLARED_NONE else ""
        details: dict[str, Any] = {"ppolicy": pp, "lockout": lockout}
        must_change = (code == 0 and pp.get("error") == 2) or (
            code == 49 and map_failed_bind(self.ev.d.kind, code, message, pp)[0] == "must-change"
        )
        if code == 0 or must_change:
            # AD answers 773 only to the right password, and counts no failure for it.
            detail = "success" if code == 0 else "must change (AD 773): the password is right"
            self.ev.ctx.ledger.record(reservation, Outcome.SUCCESS, detail)
        if must_change:
            yield self._must_change(probe, dn, declared, details)
            return
        if code == 0:
            grace = pp.get("grace")
            yield self.ev.result(
                probe,
                PILOT,
                Status.WARN if grace is not None else Status.PASS,
                f"pilot bind as {dn} succeeded"
                + (f" on a grace login ({grace} left)" if grace is not None else "")
                + declared,
                expected="bind succeeds",
                observed="success",
                details=details,
            )
            return
        self.ev.ctx.ledger.record(
            reservation, Outcome.FAILURE, f"{code} {result.get('description', '')}"
        )
        if code not in BIND_REFUSED:
            # busy (51), unavailable (52), other (80), no answer (-1)...: the directory
            # did not judge the credential, so whether the pilot can log in is unknown.
            desc = str(result.get("description", "") or "")
            yield self.ev.result(
                probe,
                PILOT,
                Status.ERROR,
                f"pilot bind as {dn} got no answer about the "
                f"credential: LDAP result {code}{' ' + desc if desc else ''} (not retried)",
                expected="bind succeeds",
                observed=f"{result.get('description', code)} {message}".strip(),
                impact="whether the pilot can log in on Day 1 is unknown",
                hint="check the directory server's state and log for this bind, then sweep "
                "again (the attempt was charged to the budget)",
                root_cause=f"{PILOT}|{self.ev.dir_id}|ldap-{code}",
                details={"result": code, **details},
            )
            return
        reason, hint = map_failed_bind(self.ev.d.kind, code, message, pp)
        yield self.ev.result(
            probe,
            PILOT,
            Status.FAIL,
            f"pilot bind as {dn} failed: {reason} (not retried){declared}",
            expected="bind succeeds",
            observed=f"{result.get('description', code)} {message}".strip(),
            impact="the pilot cannot log in on Day 1 with the credential on record",
            hint=hint,
            root_cause=f"{PILOT}|{self.ev.dir_id}|{reason}",
            details={"result": code, **details},
        )

    def _must_change(
        self, probe: Probe[Any], dn: str, declared: str, details: dict[str, Any]
    ) -> Result:
        """The right password, which must be changed before it can be used: listed apart
        (code must-change), blocking only when the programme says so."""
        blocks = self.ev.passwords.must_change_blocks
        return self.ev.result(
            probe,
            PILOT,
            Status.FAIL if blocks else Status.WARN,
            f"pilot bind as {dn}: the password is right but must be changed first{declared}",
            expected="bind succeeds",
            observed="must change the password (AD data 773 / ppolicy changeAfterReset)",
            impact="ready once the pilot has changed the password: applications that only "
            "bind refuse the login until then",
            hint="have the pilot change the password before go-live",
            root_cause=f"{PILOT}|{self.ev.dir_id}|must-change",
            details={"codes": ["must-change"], **details},
        )


PPOLICY_ERRORS = {
    0: "password expired",
    1: "account locked",
    2: "must change password (reset)",
    3: "password modification not allowed",
    4: "must supply old password",
    5: "insufficient password quality",
    6: "password too short",
    7: "password too young",
    8: "password in history",
}


def ppolicy_control(result: Mapping[str, Any]) -> dict[str, int]:
    """Decode the password-policy response control of a bind result (if any)."""
    controls = result.get("controls") or {}
    ctl = controls.get("1.3.6.1.4.1.42.2.27.8.5.1")
    if not ctl:
        return {}
    value = ctl.get("value")
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if not isinstance(value, (bytes, bytearray)):
        return {}
    return _decode_ppolicy(bytes(value))


def _decode_ppolicy(data: bytes) -> dict[str, int]:
    out: dict[str, int] = {}

    def tlv(buf: bytes, i: int) -> tuple[int, bytes, int]:
        tag = buf[i]
        length = buf[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[i : i + n], "big")
            i += n
        return tag, buf[i : i + length], i + length

    try:
        tag, body, _ = tlv(data, 0)
        if tag != 0x30:
            return out
        i = 0
        while i < len(body):
            tag, value, i = tlv(body, i)
            if tag == 0xA0 and value:  # warning CHOICE
                wtag, wval, _ = tlv(value, 0)
                key = "expire_in" if wtag == 0x80 else "grace"
                out[key] = int.from_bytes(wval, "big")
            elif tag == 0x81:
                out["error"] = int.from_bytes(value, "big")
    except IndexError:
        return out
    return out


def map_failed_bind(kind: str, code: int, message: str, pp: Mapping[str, int]) -> tuple[str, str]:
    """A failed bind's diagnostic mapped to (reason, hint)."""
    if kind == "ad":
        reason, meaning, hint = _ad().map_bind_diagnostic(message)
        return reason, f"{meaning}: {hint}"
    error = pp.get("error")
    if error is not None:
        reason = PPOLICY_ERRORS.get(error, f"password policy error {error}")
        hints = {
            0: "reset the pilot's password (it has expired)",
            1: "an administrator unlocks the account; find what keeps failing logins",
            2: "the pilot changes the password, then sweep again",
        }
        return reason, hints.get(error, "fix the account's password policy state")
    if code == 49:
        return (
            "bad password",
            "the pilot's stored credential does not match the directory: "
            "update the secret the credential reference points at (no retry was made)",
        )
    if code == 53:
        return "unwilling to perform", "check the account state and the server's bind policy"
    if code == 13:
        return "confidentiality required", "use StartTLS or LDAPS"
    return (f"LDAP result {code}", "check the server log for this bind")

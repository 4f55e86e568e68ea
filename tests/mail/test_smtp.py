"""MX hosts and recipients against real Postfix: STARTTLS judged by the one certificate
module, a catch-all refusing to prove anything, RCPT verification in shared pipelined
sessions (reopened after the server drops them on errors), greylisting answered 4xx, a
421 at the banner, a refused and a reset connection, a broken handshake, never DATA."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from readiness.results import Status
from readiness_checks.mail.people import STATS

from .conftest import DEFERRED, REJECTED, USERS, MailEstate
from .helpers import find, inventory, sweep

pytestmark = pytest.mark.integration

RCPT = "mail.rcpt-accepted"


def _domains(extra: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    fast = {"retry_delay": 0.2, "errors_per_session": 50, "per_session": 400}
    return {
        "ok.test": {"mail": {"mx": ["mx1.ok.test"], "rcpt": fast, **(extra or {})}},
        "legacy.test": {"mail": {"coexistence": True, "rcpt": fast}},
        "catch.test": {"mail": {"rcpt": fast}},
        "badtls.test": {"mail": {"rcpt": fast}},
        "refused.test": {"mail": {"timeout": 2, "rcpt": fast}},
        "reset.test": {"mail": {"timeout": 2, "rcpt": fast}},
        "plain.test": {"mail": {"rcpt": fast}},
        "fallback.test": {"mail": {"timeout": 2, "rcpt": fast}},
    }


STAFF: list[dict[str, Any]] = [
    {"id": "A", "new_mail": "alice@ok.test", "old_mail": ["old.alice@legacy.test"]},
    {"id": "C", "new_mail": REJECTED[0]},
    {"id": "G", "new_mail": DEFERRED[0]},
    {"id": "K", "new_mail": "known@catch.test"},
    {"id": "R", "new_mail": "someone@refused.test"},
    {"id": "Z", "new_mail": "someone@reset.test"},
    {"id": "F", "new_mail": "known@fallback.test"},
]


def test_mx_hosts_and_people(mail_estate: MailEstate, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, _domains(), STAFF)
    r = sweep(inv, tmp_path / "state")
    main = "mx1.ok.test:25"
    assert find(r, "mail_domains:ok.test", "mail.smtp", main).status is Status.PASS
    for check in (
        "tls.handshake",
        "tls.certificate-chain",
        "tls.certificate-name",
        "tls.certificate-valid",
    ):
        assert find(r, "mail_domains:ok.test", check, main).status is Status.PASS, check
    assert find(r, "mail_domains:ok.test", "mail.catch-all", f"{main} ok.test").status is (
        Status.PASS
    )
    # The catch-all MX: acceptance proves nothing; its certificate names another host.
    catch = "mx.catch.test:25"
    assert find(r, "mail_domains:catch.test", "mail.catch-all", f"{catch} catch.test").status is (
        Status.WARN
    )
    name = find(r, "mail_domains:catch.test", "tls.certificate-name", catch)
    assert name.status is Status.FAIL and "wrong-host.catch.test" in name.observed
    smtp = find(r, "mail_domains:catch.test", "mail.smtp", catch)
    assert "PIPELINING" not in smtp.details["extensions"]  # RCPTs one by one, still answered
    assert "PIPELINING" in find(r, "mail_domains:ok.test", "mail.smtp", main).details["extensions"]
    k = find(r, "staff:org/K", RCPT, "known@catch.test")
    assert k.status is Status.WARN and "proves nothing" in k.summary
    # STARTTLS offered, handshake refused.
    hs = find(r, "mail_domains:badtls.test", "tls.handshake", "mx.badtls.test:25")
    assert hs.status is Status.FAIL, hs
    plain = find(r, "mail_domains:plain.test", "mail.smtp", "mx.plain.test:25")
    assert plain.status is Status.FAIL and "does not offer STARTTLS" in plain.summary
    # Refused and reset connections: the MX fails, its people are errors of the same cause.
    refused = find(r, "mail_domains:refused.test", "mail.smtp", "mx.refused.test:25")
    assert refused.status is Status.FAIL and "refused" in refused.summary.lower()
    person = find(r, "staff:org/R", RCPT, "someone@refused.test")
    assert person.status is Status.ERROR and person.root_cause == refused.root_cause
    reset = find(r, "mail_domains:reset.test", "mail.smtp", "mx.reset.test:25")
    assert reset.status is Status.FAIL, (reset.summary, reset.observed)
    assert find(r, "staff:org/Z", RCPT, "someone@reset.test").status is Status.ERROR
    # The first MX refuses: the second, as a sender would try it, accepts.
    first = find(r, "mail_domains:fallback.test", "mail.smtp", "mx.refused.test:25")
    assert first.status is Status.FAIL
    assert find(r, "mail_domains:fallback.test", "mail.smtp", main).status is Status.PASS
    fallback = find(r, "staff:org/F", RCPT, "known@fallback.test")
    assert fallback.status is Status.PASS and "mx1.ok.test" in fallback.summary, fallback.summary
    # People at the healthy MX.
    alice = find(r, "staff:org/A", RCPT, "alice@ok.test")
    assert alice.status is Status.PASS and alice.need == "mailbox"
    assert find(r, "staff:org/A", RCPT, "old.alice@legacy.test").status is Status.PASS
    carol = find(r, "staff:org/C", RCPT, REJECTED[0])
    assert carol.status is Status.FAIL and "550 5.1.1" in carol.observed
    assert carol.root_cause == f"{RCPT}|{REJECTED[0]}" and carol.owner == "Mail team"
    grey = find(r, "staff:org/G", RCPT, DEFERRED[0])
    assert grey.status is Status.ERROR and "450 4.7.1" in grey.observed
    log = (mail_estate.base / "postfix-main" / "postfix" / "maillog").read_text()
    assert "message-id" not in log.lower(), "no message was ever sent"


def test_many_recipients_few_sessions_and_a_server_that_drops_them(
    mail_estate: MailEstate, tmp_path: Path
) -> None:
    """300 known and 10 unknown addresses: the server drops a session after 5 errors
    (421), the family reopens it and every address gets its own answer."""
    unknown = [f"nobody{i}@ok.test" for i in range(10)]
    staff = [{"id": f"U{i}", "new_mail": a} for i, a in enumerate(USERS + unknown)]
    domains = {
        "ok.test": {
            "mail": {"rcpt": {"per_session": 1000, "errors_per_session": 100, "sessions": 1}}
        }
    }
    inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, domains, staff)
    before = STATS.sessions, STATS.rcpts
    r = sweep(inv, tmp_path / "state")
    sessions, rcpts = STATS.sessions - before[0], STATS.rcpts - before[1]
    people = [x for x in r.values() if x.check == RCPT]
    assert len(people) == 310
    assert sum(x.status is Status.PASS for x in people) == 300
    failed = [x for x in people if x.status is Status.FAIL]
    assert sorted(x.target for x in failed) == sorted(unknown)
    # 5 errors per session: two drops, three sessions (plus the catch-all probe's).
    assert 3 <= sessions <= 5, sessions
    assert rcpts < 310 + 3 * 50 + 2, rcpts  # a dropped window is re-asked, nothing more


def test_errors_per_session_reopen_before_the_server_drops(
    mail_estate: MailEstate, tmp_path: Path
) -> None:
    unknown = [f"nobody{i}@ok.test" for i in range(10)]
    staff = [{"id": f"U{i}", "new_mail": a} for i, a in enumerate(unknown)]
    domains = {"ok.test": {"mail": {"rcpt": {"errors_per_session": 4, "sessions": 1}}}}
    inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, domains, staff)
    log = mail_estate.base / "postfix-main" / "postfix" / "maillog"
    seen = len(log.read_text())
    r = sweep(inv, tmp_path / "state")
    assert all(x.status is Status.FAIL for x in r.values() if x.check == RCPT)
    assert "too many errors" not in log.read_text()[seen:]


def test_421_at_the_banner(mail_estate: MailEstate, tmp_path: Path) -> None:
    """The server allows one session per client: with one held open, the family's own
    sessions get 421 at the banner: an error (after one retry), never a failure."""
    held = socket.create_connection((mail_estate.addresses["badtls"], 25), timeout=5)
    try:
        assert held.recv(512).startswith(b"220")
        staff = [{"id": "B", "new_mail": "known@badtls.test"}]
        inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, _domains(), staff)
        r = sweep(inv, tmp_path / "state")
    finally:
        held.close()
    person = find(r, "staff:org/B", RCPT, "known@badtls.test")
    assert person.status is Status.ERROR and "421" in person.observed, person
    smtp = find(r, "mail_domains:badtls.test", "mail.smtp", "mx.badtls.test:25")
    assert smtp.status is Status.ERROR and "421" in smtp.summary, smtp

"""The mail family from an SSH vantage point (a real OpenSSH jump host): DNS over the
channel, SMTP and STARTTLS pumped through it, RCPT pipelined over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from readiness.inventory import load
from readiness.results import Status
from readiness_checks.mail import family

from .conftest import REJECTED, MailEstate
from .helpers import sweep

pytestmark = pytest.mark.integration


def test_from_a_jump_host(mail_estate: MailEstate, sshd: Any, tmp_path: Path) -> None:
    doc = {
        "programme": {"name": "T", "go_live": "2027-01-04", "resolvers": [mail_estate.resolver]},
        "organisations": {"org": {"name": "Org", "ca_bundle": str(mail_estate.ca)}},
        "vantage_points": {
            "jump": {
                "kind": "ssh",
                "host": sshd.host,
                "port": sshd.port,
                "user": sshd.user,
                "key": f"file:{sshd.client_key}",
                "known_hosts": str(sshd.known_hosts),
            }
        },
        "sites": {
            "hq": {
                "organisation": "org",
                "vantage_points": ["jump"],
                "resolvers": [mail_estate.resolver],
            }
        },
        "roles": {"staff": {"mailbox": True}},
        "mail_domains": {"ok.test": {"owner": "Mail team", "mail": {"mx": ["mx1.ok.test"]}}},
        "staff": [
            {"id": i, "organisation": "org", "site": "hq", "roles": ["staff"], "new_mail": a}
            for i, a in (("A", "alice@ok.test"), ("C", REJECTED[0]))
        ],
    }
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "inventory.yaml").write_text(json.dumps(doc))
    r = sweep(load(tmp_path / "inv", [family]), tmp_path / "state")
    assert {x.vantage for x in r.values()} == {"jump"}
    by = {(x.subject, x.check, x.target): x for x in r.values()}
    mx = by[("mail_domains:ok.test", "mail.mx", f"ok.test MX via {mail_estate.resolver}")]
    assert mx.status is Status.PASS and mx.sites == ("hq",)
    host = "mx1.ok.test:25"
    assert by[("mail_domains:ok.test", "mail.smtp", host)].status is Status.PASS
    assert by[("mail_domains:ok.test", "tls.certificate-chain", host)].status is Status.PASS
    assert by[("staff:org/A", "mail.rcpt-accepted", "alice@ok.test")].status is Status.PASS
    rejected = by[("staff:org/C", "mail.rcpt-accepted", REJECTED[0])]
    assert rejected.status is Status.FAIL and "550" in rejected.observed

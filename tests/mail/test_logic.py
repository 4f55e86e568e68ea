"""The mail family's pure logic: judging DNS answers, SMTP replies, and planning (no I/O,
no server: the real servers are in test_records.py and test_smtp.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from readiness.engine import make_plan
from readiness.inventory import Selection
from readiness.net.dns import Answer, Record
from readiness.results import Status
from readiness_checks.mail import family
from readiness_checks.mail import records as rec
from readiness_checks.mail.model import Dmarc, Mail
from readiness_checks.mail.smtp import Reply

from .helpers import GO_LIVE, inventory


def txt(name: str, *values: str, outcome: str = "ok", rdtype: str = "TXT") -> Answer:
    records = tuple(Record(name, rdtype, 300, v) for v in values)
    return Answer(name, rdtype, "192.0.2.53:53", "local", outcome, records)


def test_tags() -> None:
    assert rec.parse_tags("v=DMARC1; p=reject;  rua=mailto:a@b.test;") == {
        "v": "DMARC1",
        "p": "reject",
        "rua": "mailto:a@b.test",
    }
    with pytest.raises(ValueError, match="twice"):
        rec.parse_tags("p=none; p=reject")
    with pytest.raises(ValueError, match="not tag=value"):
        rec.parse_tags("v=DMARC1; reject")


@pytest.mark.parametrize(
    ("record", "want", "status", "words"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@x.test", Dmarc(p="quarantine"), Status.PASS, "DMARC"),
        ("v=DMARC1; p=none; rua=mailto:d@x.test", Dmarc(p="quarantine"), Status.FAIL, "p=none"),
        ("v=DMARC1; p=reject; pct=50; rua=mailto:d@x.test", Dmarc(p="reject"), Status.FAIL, "pct"),
        ("v=DMARC1; p=reject", Dmarc(p="reject"), Status.FAIL, "no rua"),
        (
            "v=DMARC1; p=reject; sp=none",
            Dmarc(p="reject", sp="quarantine", rua=False),
            Status.FAIL,
            "sp=none",
        ),
        ("v=DMARC1; p=maybe", None, Status.FAIL, "malformed"),
        ("v=DMARC1; p=none; pct=120", None, Status.FAIL, "pct=120"),
    ],
)
def test_dmarc(record: str, want: Dmarc | None, status: Status, words: str) -> None:
    found = rec.dmarc_result("x.test", want, txt("_dmarc.x.test", record))
    assert found.status is status and words in found.summary, found


def test_dmarc_missing_is_a_failure_only_where_expected() -> None:
    nx = txt("_dmarc.x.test", outcome="nxdomain")
    assert rec.dmarc_result("x.test", Dmarc(), nx).status is Status.FAIL
    assert rec.dmarc_result("x.test", None, nx).status is Status.WARN
    two = txt("_dmarc.x.test", "v=DMARC1; p=none", "v=DMARC1; p=reject")
    assert rec.dmarc_result("x.test", None, two).status is Status.FAIL
    servfail = txt("_dmarc.x.test", outcome="servfail")
    assert rec.dmarc_result("x.test", Dmarc(), servfail).status is Status.ERROR


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def test_dkim_keys() -> None:
    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    ok = rec.dkim_result(
        "x.test", "s", txt("s._domainkey.x.test", f"v=DKIM1; k=ed25519; p={_b64(ed)}")
    )
    assert ok.status is Status.PASS and ok.details == {
        "key_type": "ed25519",
        "key_bits": 256,
        "cnames": [],
    }
    ec_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    not_rsa = rec.dkim_result("x.test", "s", txt("s", f"v=DKIM1; p={_b64(ec_key)}"))
    assert not_rsa.status is Status.FAIL and "not RSA" in not_rsa.summary
    garbage = rec.dkim_result("x.test", "s", txt("s", "v=DKIM1; p=!!!"))
    assert garbage.status is Status.FAIL and "base64" in garbage.summary
    assert rec.dkim_result("x.test", "s", txt("s", "v=DKIM2; p=AAAA")).status is Status.FAIL


def test_mx_judged_against_the_expectation() -> None:
    block = Mail(mx=["mx1.x.test", "mx2.x.test"])
    both = txt("x.test", "10 mx1.x.test.", "20 MX2.x.test.", rdtype="MX")
    assert rec.mx_result("x.test", block, both, "t").status is Status.PASS
    one = txt("x.test", "10 mx1.x.test.", rdtype="MX")
    assert rec.mx_result("x.test", block, one, "t").status is Status.WARN
    other = txt("x.test", "10 mx1.x.test.", "20 old.x.test.", rdtype="MX")
    found = rec.mx_result("x.test", block, other, "t")
    assert found.status is Status.FAIL and "old.x.test" in found.summary
    null = txt("x.test", "0 .", rdtype="MX")
    assert rec.mx_result("x.test", Mail(), null, "t").status is Status.FAIL
    assert rec.mx_agreement("x.test", [both], "t") is None
    differ = [both, Answer("x.test", "MX", "192.0.2.54:53", "local", "ok", other.records)]
    agreement = rec.mx_agreement("x.test", differ, "t")
    assert agreement is not None and agreement.status is Status.FAIL


def test_spf_record_count() -> None:
    assert rec.spf_record_result("x.test", txt("x.test", "v=spf1 -all", "other")).status is (
        Status.PASS
    )
    assert rec.spf_record_result("x.test", txt("x.test", "v=spf10 -all")).status is Status.FAIL
    assert rec.spf_record_result("x.test", txt("x.test", outcome="timeout")).status is Status.ERROR


def test_reply_enhanced_status() -> None:
    assert Reply(550, ("5.1.1 <a@b>: User unknown",)).enhanced == "5.1.1"
    assert Reply(550, ("User unknown",)).enhanced == ""
    assert Reply(450, ("5.1.1 mismatch",)).enhanced == ""
    assert str(Reply(250, ("a", "b"))) == "250 a b"


def test_plan_without_io(tmp_path: Path) -> None:
    """Who gets which RCPT: the new address of everyone needing a mailbox, old addresses
    only where coexistence is planned; domains without a mail block are not probed."""
    inv = inventory(
        tmp_path / "inv",
        "192.0.2.53:53",
        tmp_path / "ca.pem",
        {
            "new.test": {"mail": {}},
            "old.test": {"mail": {"coexistence": True}},
            "gone.test": {"mail": {"coexistence": False}},
            "plain.test": {},
        },
        [
            {"id": "A", "new_mail": "A@new.test", "old_mail": ["a@old.test", "a@gone.test"]},
            {"id": "B", "new_mail": "b@plain.test"},
        ],
    )
    plan = make_plan(inv, [family], Selection(), GO_LIVE)
    people = {p.subject: p for p in plan.probes if p.check == "mail.rcpt-accepted"}
    assert set(people) == {"staff:org/A"}
    addresses = [(a, kind) for a, kind, _ in people["staff:org/A"].params.addresses]
    assert addresses == [("a@new.test", "new"), ("a@old.test", "old")]
    domains = {p.subject for p in plan.probes if p.check in ("mail.mx", "mail.smtp")}
    assert domains == {"mail_domains:new.test", "mail_domains:old.test", "mail_domains:gone.test"}
    assert len({p.batch for p in people.values()}) == 1


def test_every_hint_and_impact_in_the_one_style() -> None:
    from readiness_checks.mail.people import _judge
    from readiness_checks.mail.rcpt import Outcome
    from tests.style import assert_sentence

    nx = txt("x.test", outcome="nxdomain")
    findings = [
        rec.dmarc_result("x.test", Dmarc(), nx),
        rec.dmarc_result("x.test", Dmarc(p="reject"), txt("d", "v=DMARC1; p=none")),
        rec.dmarc_result("x.test", None, txt("d", "v=DMARC1; p=bad")),
        rec.dkim_result("x.test", "s", nx),
        rec.dkim_result("x.test", "s", txt("s", "v=DKIM1; p=")),
        rec.mx_result("x.test", Mail(mx=["a.x.test"]), nx, "t"),
        rec.mx_result("x.test", Mail(mx=["a.x.test"]), txt("x", "1 b.x.test.", rdtype="MX"), "t"),
        rec.spf_record_result("x.test", nx),
        rec.spf_record_result("x.test", txt("x", outcome="servfail")),
        rec.autodiscover_result("a.x.test", "nxdomain", "NXDOMAIN", ()),
        rec.policy_record_result(
            "mail.mta-sts", "_mta-sts.x.test", "v=STSv1", txt("m", "v=STSv1 x")
        ),
    ]
    for f in findings:
        assert_sentence(f.hint)
        assert_sentence(f.impact)
    for kind, code in (("rejected", 550), ("deferred", 450), ("refused", 0), ("broken", 0)):
        for catch in (False, True):
            verdict = _judge(
                Outcome("a@x.test", kind, f"{code} no", code, "", "192.0.2.1:25"),
                "mx.x.test",
                "x.test",
                catch,
            )
            assert_sentence(verdict.hint)


def test_bad_blocks_are_reported_with_file_and_line(tmp_path: Path) -> None:
    from readiness.inventory import InventoryError

    with pytest.raises(InventoryError) as caught:
        inventory(
            tmp_path / "inv",
            "192.0.2.53:53",
            tmp_path / "ca.pem",
            {"x.test": {"mail": {"ca_organisation": "nowhere", "min_days": 30, "warn_days": 7}}},
        )
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "inventory.yaml:" in text
    assert "unknown organisation 'nowhere'" in text and "warn_days (7) is below" in text

"""A mail domain's DNS against a real BIND: MX, SPF evaluated (the RFC 7208 cases that
matter), DMARC, DKIM, autodiscover, MTA-STS/TLS-RPT, and every bad answer (NXDOMAIN,
SERVFAIL, a timeout, a truncated answer, two SPF records, malformed records, an include
loop, resolvers that disagree) as a clear result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from readiness.net.dns import QUERIES
from readiness.results import Status

from .conftest import MailEstate
from .helpers import find, inventory, sweep

pytestmark = pytest.mark.integration

OK = "mail_domains:ok.test"


def test_a_healthy_domain(mail_estate: MailEstate, tmp_path: Path) -> None:
    block = {
        "mx": ["mx1.ok.test"],
        "spf_senders": ["mx1.ok.test", "sender.ok.test", "192.0.2.7"],
        "dkim_selectors": ["s1", "alias", "weak", "revoked", "absent"],
        "dmarc": {"p": "reject", "sp": "quarantine"},
        "autodiscover": ["autodiscover.ok.test", "autoconfig.ok.test"],
    }
    inv = inventory(
        tmp_path / "inv", mail_estate.resolver, mail_estate.ca, {"ok.test": {"mail": block}}
    )
    r = sweep(inv, tmp_path / "state")
    mx = find(r, OK, "mail.mx", f"ok.test MX via {mail_estate.resolver}")
    assert mx.status is Status.PASS and mx.details["ttl"] == 300, mx
    assert find(r, OK, "mail.spf", "ok.test SPF record").status is Status.PASS
    for sender in ("mx1.ok.test", "sender.ok.test", "192.0.2.7"):
        assert find(r, OK, "mail.spf", f"ok.test SPF for {sender}").status is Status.PASS
    dmarc = find(r, OK, "mail.dmarc", "_dmarc.ok.test")
    assert dmarc.status is Status.PASS and dmarc.details["p"] == "reject"
    s1 = find(r, OK, "mail.dkim", "s1._domainkey.ok.test")
    assert s1.status is Status.PASS and s1.details["key_bits"] == 2048
    alias = find(r, OK, "mail.dkim", "alias._domainkey.ok.test")
    assert alias.status is Status.PASS and alias.details["cnames"] == ["s1._domainkey.ok.test"]
    weak = find(r, OK, "mail.dkim", "weak._domainkey.ok.test")
    assert weak.status is Status.WARN and "1024-bit" in weak.observed
    assert find(r, OK, "mail.dkim", "revoked._domainkey.ok.test").status is Status.FAIL
    assert find(r, OK, "mail.dkim", "absent._domainkey.ok.test").status is Status.FAIL
    assert find(r, OK, "mail.autodiscover", "autodiscover.ok.test").status is Status.PASS
    assert find(r, OK, "mail.autodiscover", "autoconfig.ok.test").status is Status.FAIL
    assert find(r, OK, "mail.mta-sts", "_mta-sts.ok.test").status is Status.PASS
    assert find(r, OK, "mail.tls-rpt", "_smtp._tls.ok.test").status is Status.PASS


def test_spf_cases_of_rfc_7208(mail_estate: MailEstate, tmp_path: Path) -> None:
    """include and redirect followed; two records, an include loop, more than 10
    DNS-querying terms, more than 2 void lookups and a malformed term are PermErrors;
    a host the record does not name gets fail; a truncated UDP answer is re-asked over
    TCP; every question is asked once, through the inventory's resolver."""
    names = ["ok", "two", "loop", "redirect", "void", "many", "malformed", "big"]
    domains = {
        ("ok.test" if n == "ok" else f"{n}.ok.test"): {
            "mail": {
                "spf_senders": ["sender.ok.test", *(["stranger.ok.test"] if n == "ok" else [])]
            }
        }
        for n in names
    }
    inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, domains)
    QUERIES.reset()
    r = sweep(inv, tmp_path / "state")

    def spf(domain: str, target: str = "SPF for sender.ok.test") -> Status:
        return find(r, f"mail_domains:{domain}", "mail.spf", f"{domain} {target}").status

    assert spf("ok.test") is Status.PASS  # a: and include: followed
    stranger = find(r, OK, "mail.spf", "ok.test SPF for stranger.ok.test")
    assert stranger.status is Status.FAIL and "gives fail" in stranger.summary
    assert spf("redirect.ok.test") is Status.PASS
    two = find(r, "mail_domains:two.ok.test", "mail.spf", "two.ok.test SPF record")
    assert two.status is Status.FAIL and "2 SPF records" in two.summary
    for name, words in (
        ("loop", "DNS lookups"),
        ("many", "DNS lookups"),
        ("void", "Void lookup limit"),
        ("malformed", "not-an-address"),
    ):
        result = find(
            r, f"mail_domains:{name}.ok.test", "mail.spf", f"{name}.ok.test SPF for sender.ok.test"
        )
        assert result.status is Status.FAIL and "permerror" in result.summary, result
        assert words in result.observed, result
    assert spf("big.ok.test") is Status.PASS
    asked = QUERIES.by_key
    big = [k for k in asked if k[0] == "big.ok.test" and k[1] == "TXT"]
    assert big and all(asked[k] == 1 for k in asked), "each question once per sweep"
    assert all(k[2] == mail_estate.resolver for k in asked), "only the inventory's resolver"


def test_truncated_answer_is_asked_again_over_tcp(mail_estate: MailEstate) -> None:
    from readiness.net.dns import query

    answer = query("big.ok.test", "TXT", mail_estate.resolver)
    assert answer.ok and answer.truncated and len(answer.records) == 13


def test_bad_answers(mail_estate: MailEstate, tmp_path: Path) -> None:
    """NXDOMAIN is a failure of the domain; SERVFAIL and a silent resolver are errors;
    a malformed DMARC record fails; resolvers that disagree on the MX fail."""
    domains: dict[str, dict[str, Any]] = {
        "nothere.ok.test": {"mail": {"dmarc": {"p": "none"}}},
        "broken.test": {"mail": {}},
        "malformed.ok.test": {"mail": {"dmarc": {"p": "none"}}},
        "split.test": {
            "mail": {"mx": ["mx1.ok.test"], "resolvers": [mail_estate.resolver, mail_estate.second]}
        },
        "nomx.ok.test": {"mail": {}},
    }
    inv = inventory(tmp_path / "inv", mail_estate.resolver, mail_estate.ca, domains)
    r = sweep(inv, tmp_path / "state")
    res = mail_estate.resolver
    nx = find(r, "mail_domains:nothere.ok.test", "mail.mx", f"nothere.ok.test MX via {res}")
    assert nx.status is Status.FAIL and "NXDOMAIN" in nx.observed
    dmarc = find(r, "mail_domains:nothere.ok.test", "mail.dmarc", "_dmarc.nothere.ok.test")
    assert dmarc.status is Status.FAIL and dmarc.owner == "Mail team"
    servfail = find(r, "mail_domains:broken.test", "mail.mx", f"broken.test MX via {res}")
    assert servfail.status is Status.ERROR and "SERVFAIL" in servfail.summary
    smtp = find(r, "mail_domains:broken.test", "mail.smtp", "broken.test")
    assert smtp.status is Status.ERROR and smtp.root_cause.startswith("dns|broken.test|MX")
    bad = find(r, "mail_domains:malformed.ok.test", "mail.dmarc", "_dmarc.malformed.ok.test")
    assert bad.status is Status.FAIL and "p=bogus" in bad.summary
    agree = find(r, "mail_domains:split.test", "mail.mx", "split.test MX agreement")
    assert agree.status is Status.FAIL and "mx-old.legacy.test" in agree.observed
    other = find(r, "mail_domains:split.test", "mail.mx", f"split.test MX via {mail_estate.second}")
    assert other.status is Status.FAIL
    assert find(r, "mail_domains:split.test", "mail.mx", f"split.test MX via {res}").status is (
        Status.PASS
    )
    nomx = find(r, "mail_domains:nomx.ok.test", "mail.mx", f"nomx.ok.test MX via {res}")
    assert nomx.status is Status.FAIL and "no MX" in nomx.summary
    assert find(r, "mail_domains:nomx.ok.test", "mail.smtp", "nomx.ok.test").status is Status.SKIP


def test_a_resolver_that_never_answers(mail_estate: MailEstate, tmp_path: Path) -> None:
    domains = {"ok.test": {"mail": {"timeout": 1, "spf_senders": ["sender.ok.test"]}}}
    inv = inventory(tmp_path / "inv", mail_estate.silent, mail_estate.ca, domains)
    r = sweep(inv, tmp_path / "state")
    mx = find(r, OK, "mail.mx", f"ok.test MX via {mail_estate.silent}")
    assert mx.status is Status.ERROR and "no answer" in mx.summary
    assert find(r, OK, "mail.spf", "ok.test SPF record").status is Status.ERROR
    assert find(r, OK, "mail.smtp", "ok.test").status is Status.ERROR

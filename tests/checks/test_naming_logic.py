"""Pure logic of naming.lookup (the wire is tested against BIND in test_dns.py): how the
outcomes of the A and AAAA questions combine."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.rrset
import pytest

from readiness import naming


def _answer(name: str, rdtype: str, *addresses: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(name + ".", 300, "IN", rdtype, *addresses))
    return response


def test_an_aaaa_error_keeps_the_ipv4_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolvers and firewalls that drop AAAA are common: A answered means resolvable."""

    def ask(name: str, rdtype: str, *args: Any) -> tuple[str, Any, str]:
        if rdtype == "A":
            return "ok", _answer(name, "A", "127.0.0.10"), ""
        return "timeout", None, "no answer within 2s"

    monkeypatch.setattr(naming, "_ask", ask)
    found = naming.lookup("app.example.test", "127.0.0.1:53", 2.0)
    assert found.ok and found.addresses == ("127.0.0.10",)
    assert "AAAA: timeout" in found.detail


def test_an_error_before_any_address_is_the_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(naming, "_ask", lambda *a: ("servfail", None, "SERVFAIL"))
    found = naming.lookup("app.example.test", "127.0.0.1:53", 2.0)
    assert found.outcome == "servfail" and not found.addresses

"""Pure logic of the DNS service (the wire is tested against BIND in test_dns.py): how the
outcomes of the A and AAAA questions combine, and the one cache key per question."""

from __future__ import annotations

import contextlib
from typing import Any

import dns.message
import dns.rrset
import pytest

from readiness.net import dns as rdns


def _answer(name: str, rdtype: str, *addresses: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(name + ".", 300, "IN", rdtype, *addresses))
    return response


def test_an_aaaa_error_keeps_the_ipv4_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolvers and firewalls that drop AAAA are common: A answered means resolvable."""

    def ask(name: str, rdtype: str, *args: Any) -> tuple[str, Any, str, bool]:
        if rdtype == "A":
            return "ok", _answer(name, "A", "127.0.0.10"), "", False
        return "timeout", None, "no answer within 2s", False

    monkeypatch.setattr(rdns, "_ask", ask)
    found = rdns.lookup("app.example.test", "127.0.0.1:53", 2.0)
    assert found.ok and found.addresses == ("127.0.0.10",)
    assert "AAAA: timeout" in found.detail


def test_an_error_before_any_address_is_the_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def ask(name: str, rdtype: str, *args: Any) -> tuple[str, Any, str, bool]:
        asked.append(rdtype)
        return "servfail", None, "SERVFAIL", False

    monkeypatch.setattr(rdns, "_ask", ask)
    found = rdns.lookup("app.example.test", "127.0.0.1:53", 2.0)
    assert found.outcome == "servfail" and not found.addresses
    assert asked == ["A"]  # a resolver failing on A is not asked again


def test_one_cache_key_per_question_whatever_the_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Host.``, ``host`` and ``HOST`` are one question, asked once per sweep."""
    asked: list[tuple[str, str]] = []

    def ask(name: str, rdtype: str, *args: Any) -> tuple[str, Any, str, bool]:
        asked.append((name, rdtype))
        return "ok", _answer(name, rdtype, "127.0.0.10" if rdtype == "A" else "::1"), "", False

    monkeypatch.setattr(rdns, "_ask", ask)
    cache: dict[Any, Any] = {}

    def shared(key: Any, compute: Any) -> Any:
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    service = rdns.DnsService(
        ["127.0.0.1"], shared, lambda name: None, lambda server: contextlib.nullcontext()
    )
    for spelling in ("app.example.test", "App.Example.Test.", "APP.example.test"):
        assert service.lookup(spelling, "127.0.0.1").addresses == ("127.0.0.10", "::1")
    assert service.resolve("app.example.test.") == ["127.0.0.10", "::1"]
    assert [t for _, t in asked] == ["A", "AAAA"]
    txt = service.query("app.example.test", "txt", "127.0.0.1:53")
    assert txt.ok and asked[-1][1] == "TXT"

"""Property-based tests of every parser of what a server sends that the other suites do
not already cover (certificates: tests/net; SIP: tests/telephony; inventory, CSV: tests/core):
DNS TXT records as SPF, DMARC, DKIM, MTA-STS; SPF evaluated over hostile DNS; SMTP
replies; HTTP responses; LDAP values (GeneralizedTime, FILETIME, userAccountControl and
friends, in ppolicy and AD entries); the gate policy file. Any input gives a value, a
finding or the parser's own error, in bounded time; never another exception.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.net.dns import Answer, Record
from readiness.problems import ProblemError
from readiness.results import Status
from readiness_checks.applications.http import Client, HttpError
from readiness_checks.identity.ad import (
    ADPolicy,
    evaluate_ad_account,
    filetime_to_datetime,
    policy_from_entries,
)
from readiness_checks.identity.ppolicy import PPolicy, evaluate_ppolicy_account, parse_gentime
from readiness_checks.mail.model import Dmarc
from readiness_checks.mail.records import (
    Finding,
    dkim_result,
    dmarc_result,
    parse_tags,
    policy_record_result,
    spf_record_result,
)
from readiness_checks.mail.smtp import SmtpClosed, SmtpSession
from readiness_checks.mail.spfeval import evaluate

from ..net.fakes import ScriptedStream

SETTINGS = settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
SECONDS = 2.0  # any one parse, however hostile: far more than any honest input needs

# Text a hostile or broken DNS server could put in TXT records: tag-like and SPF-like
# fragments mixed with anything.
FRAGMENTS = st.sampled_from(
    ["v=spf1", "v=DMARC1", "v=DKIM1", "v=STSv1", "v=TLSRPTv1", "p=", "p=reject", "sp=none",
     "pct=", "pct=200", "rua=mailto:x@y.test", "k=rsa", "k=ed25519", "t=y", "h=sha1", "=",
     ";", " ", "include:", "redirect=", "a", "mx", "ptr", "exists:%{i}", "ip4:", "ip6:",
     "-all", "~all", "?all", "+all", "%{l}", "%{d10r}", "MIIBIjANBgkq", "AAAA", "\x00", "é"]
)  # fmt: skip
TXT = st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=30).map("".join))
OUTCOMES = st.sampled_from(["ok", "ok", "ok", "nxdomain", "nodata", "servfail", "timeout"])


def answers(rdtype: str, name: str = "x.test") -> st.SearchStrategy[Answer]:
    return st.builds(
        lambda outcome, values, cnames: Answer(
            name, rdtype, "127.0.0.1:53", "local", outcome,
            tuple(Record(name, rdtype, 300, v) for v in values), tuple(cnames),
        ),
        OUTCOMES, st.lists(TXT, max_size=4), st.lists(st.text(max_size=20), max_size=2),
    )  # fmt: skip


def well_formed(finding: Finding) -> None:
    assert finding.status in set(Status)
    assert isinstance(finding.summary, str) and finding.summary
    json.dumps(finding.details)  # JSON-native


def bounded(started: float) -> None:
    assert time.perf_counter() - started < SECONDS


# --------------------------------------------------------------------------- DNS records


@SETTINGS
@given(text=TXT)
def test_any_tag_record_is_parsed_or_refused(text: str) -> None:
    try:
        tags = parse_tags(text)
    except ValueError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())


@SETTINGS
@given(spf=answers("TXT"), dmarc=answers("TXT"), dkim=answers("TXT"), sts=answers("TXT"),
       want=st.none() | st.builds(Dmarc))  # fmt: skip
def test_any_answer_gives_findings(
    spf: Answer, dmarc: Answer, dkim: Answer, sts: Answer, want: Dmarc | None
) -> None:
    started = time.perf_counter()
    well_formed(spf_record_result("x.test", spf))
    well_formed(dmarc_result("x.test", want, dmarc))
    well_formed(dkim_result("x.test", "sel", dkim))
    well_formed(policy_record_result("mail.mta-sts", "_mta-sts.x.test", "v=STSv1", sts))
    bounded(started)


@SETTINGS
@given(record=TXT, others=st.dictionaries(st.sampled_from(["a.x.test", "b.x.test", "x.test"]),
                                          TXT, max_size=3))  # fmt: skip
def test_spf_evaluated_over_hostile_dns(record: str, others: dict[str, str]) -> None:
    """pyspf over any SPF text (includes, redirects, macros to names answered with more
    hostile text): an SPF result, in bounded time (its own lookup limits)."""

    def lookup(name: str, rdtype: str) -> Answer:
        text = record if name == "x.test" else others.get(name)
        if rdtype != "TXT" or text is None:
            return Answer(name, rdtype, "127.0.0.1:53", "local", "nxdomain")
        return Answer(name, rdtype, "127.0.0.1:53", "local", "ok", (Record(name, "TXT", 60, text),))

    started = time.perf_counter()
    outcome = evaluate("x.test", "192.0.2.1", "mail.x.test", lookup, timeout=1)
    assert outcome.result in {"pass", "fail", "softfail", "neutral", "none", "permerror",
                              "temperror", "ambiguous"}  # fmt: skip
    bounded(started)


# --------------------------------------------------------------------------- SMTP


SMTP_LINES = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.tuples(st.sampled_from(["220", "250", "421", "554", "2", "abc", "999"]),
                  st.sampled_from([" ", "-", "", "x"]), st.text(max_size=40)),
        max_size=20,
    ).map(lambda lines: "".join(f"{c}{s}{t}\r\n" for c, s, t in lines).encode("utf-8", "replace")),
)  # fmt: skip


@SETTINGS
@given(data=SMTP_LINES, chunk=st.integers(1, 64))
def test_any_smtp_answer_is_a_reply_or_a_closed_session(data: bytes, chunk: int) -> None:
    stream = ScriptedStream(*[data[i : i + chunk] for i in range(0, len(data), chunk)])
    session = SmtpSession(stream, timeout=1)
    started = time.perf_counter()
    try:
        reply = session.greet()
    except (SmtpClosed, OSError):
        bounded(started)
        return
    assert 0 <= reply.code <= 999 and isinstance(reply.text, str)
    assert isinstance(reply.enhanced, str)
    bounded(started)


class EndlessStream(ScriptedStream):
    """A server that never stops sending continuation lines."""

    def recv(self, bufsize: int, /) -> bytes:
        return b"250-PIPELINING\r\n" * 256


def test_an_endless_multiline_reply_is_refused() -> None:
    session = SmtpSession(EndlessStream(), timeout=1)
    with pytest.raises(SmtpClosed, match="lines"):
        session.reply()


# --------------------------------------------------------------------------- HTTP


HTTP = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda status, headers, body: (
            f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        ).encode("latin-1", "replace") + body,
        st.sampled_from(["200", "301", "100", "999", "abc", "-1", ""]),
        st.lists(st.tuples(st.sampled_from(["Content-Length", "Transfer-Encoding", "Location",
                                            "Set-Cookie", "X", ""]),
                           st.sampled_from(["5", "-1", "chunked", "gzip", "a\x7f", "99999999999"])),
                 max_size=5),
        st.binary(max_size=100),
    ),
)  # fmt: skip


@SETTINGS
@given(data=HTTP, chunk=st.integers(1, 64))
def test_any_http_answer_is_a_response_or_an_http_error(data: bytes, chunk: int) -> None:
    stream = ScriptedStream(*[data[i : i + chunk] for i in range(0, len(data), chunk)])
    client = Client(stream, "app.test")
    started = time.perf_counter()
    try:
        response = client.request("GET", "/", timeout=1, max_body=64)
    except HttpError as exc:
        assert exc.code in {"timeout", "closed", "protocol"}
        bounded(started)
        return
    assert 100 <= response.status <= 999 and len(response.body) <= 64
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in response.headers.items())
    bounded(started)


# --------------------------------------------------------------------------- LDAP values


GENTIME = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["00010101000000+0100", "99991231235959-0100", "20270104", "2027"]),
    st.from_regex(r"\A[0-9]{4,14}([.,][0-9]{0,8})?(Z|[+-][0-9]{0,4})?\Z"),
)
NUMBER = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-1", "9223372036854775807", "-9223372036854775808", "", "x", "1e9",
                     "0x10", " 5", "NaN"]),
)  # fmt: skip


@SETTINGS
@given(text=GENTIME)
def test_any_generalized_time_is_a_time_or_a_value_error(text: str) -> None:
    try:
        value = parse_gentime(text)
    except (ValueError, IndexError, OverflowError):
        return
    assert value.tzinfo is not None


@SETTINGS
@given(value=st.integers(-(2**70), 2**70))
def test_any_filetime_is_a_time_or_never(value: int) -> None:
    try:
        found = filetime_to_datetime(value)
    except OverflowError:
        pytest.fail(f"FILETIME {value} overflowed")
    assert found is None or found.tzinfo is not None


PPOLICY_ATTRS = ["pwdChangedTime", "pwdFailureTime", "pwdAccountLockedTime", "pwdReset",
                 "pwdGraceUseTime", "pwdEndTime", "pwdStartTime", "pwdPolicySubentry",
                 "shadowExpire", "pwdLastSuccess"]  # fmt: skip
AD_ATTRS = ["userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet",
            "accountExpires", "lockoutTime", "badPwdCount", "badPasswordTime",
            "msDS-UserPasswordExpiryTimeComputed", "msDS-ResultantPSO",
            "sAMAccountName"]  # fmt: skip
VALUES = st.lists(st.one_of(GENTIME, NUMBER, st.text(max_size=20)), max_size=3)


@SETTINGS
@given(attrs=st.dictionaries(st.sampled_from(PPOLICY_ATTRS), VALUES, max_size=6),
       policy=st.dictionaries(st.sampled_from(["pwdMaxAge", "pwdMaxFailure", "pwdLockout",
                                               "pwdLockoutDuration", "pwdFailureCountInterval",
                                               "pwdGraceAuthNLimit", "pwdMustChange"]),
                              VALUES, max_size=5))  # fmt: skip
def test_any_ppolicy_entry_is_judged(
    attrs: dict[str, list[str]], policy: dict[str, list[str]]
) -> None:
    started = time.perf_counter()
    try:
        pp: PPolicy | None = PPolicy.from_entry("cn=default,ou=policies,dc=x", policy)
    except ValueError:
        pp = None
    state = evaluate_ppolicy_account(attrs, pp, go_live=GO_LIVE, now=NOW)
    assert state.findings is not None
    bounded(started)


@SETTINGS
@given(entry=st.dictionaries(st.sampled_from(AD_ATTRS), VALUES, max_size=8),
       domain=st.dictionaries(st.sampled_from(["lockoutThreshold", "lockoutDuration",
                                               "lockOutObservationWindow", "maxPwdAge"]),
                              VALUES, max_size=4))  # fmt: skip
def test_any_ad_entry_is_judged(entry: dict[str, list[str]], domain: dict[str, Any]) -> None:
    started = time.perf_counter()
    try:
        policy = policy_from_entries(domain)
    except ValueError:
        policy = ADPolicy()
    state = evaluate_ad_account(entry, policy, go_live=GO_LIVE, now=NOW)
    assert state.findings is not None
    bounded(started)


# --------------------------------------------------------------------------- gate policy


GATE_KEYS = st.sampled_from(["critical", "thresholds", "waivers", "min_ready", "organisation",
                             "match", "subject", "check", "target", "expires", "reason",
                             "x"])  # fmt: skip
GATE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["2027-01-04", "identity.*", "[", "*"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(GATE_KEYS, inner, max_size=3),
    max_leaves=12,
)


@SETTINGS
@given(doc=st.one_of(st.dictionaries(GATE_KEYS, GATE_VALUES, max_size=4), GATE_VALUES))
def test_any_gate_policy_is_loaded_or_explained(
    tmp_path_factory: pytest.TempPathFactory, doc: object
) -> None:
    from readiness.gate.policy import load_policy

    path = tmp_path_factory.mktemp("gate") / "policy.yaml"
    path.write_text(json.dumps(doc, default=str), "utf-8")  # JSON is YAML
    try:
        load_policy(path)
    except ProblemError as exc:
        assert str(exc)
        assert all(p.message for p in exc.problems)


@SETTINGS
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_gate_policy_are_explained(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    from readiness.gate.policy import load_policy

    path: Path = tmp_path_factory.mktemp("gate") / "policy.yaml"
    path.write_bytes(data)
    try:
        load_policy(path)
    except ProblemError as exc:
        assert exc.problems

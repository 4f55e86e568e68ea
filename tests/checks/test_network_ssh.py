"""SSH vantage points against a real OpenSSH sshd on loopback (own config, host key,
key-only user): connections through it, host-key verification, DNS over the channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from readiness.net import dns
from readiness.net.vantage import SSHVantage, VantageError
from readiness.results import Status
from readiness_checks.dns import family as dns_family
from readiness_checks.network import family as network_family

pytestmark = pytest.mark.integration


def inventory(
    helpers: Any,
    tmp_path: Path,
    sshd: Any,
    bind: Any,
    tcp: Any,
    *,
    known_hosts: Path | None = None,
    key: Path | None = None,
    insecure: bool = False,
) -> Any:
    known = known_hosts or sshd.known_hosts
    text = f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{bind.resolver}"]}}
organisations: {{north: {{name: North}}}}
vantage_points:
  jump:
    kind: ssh
    host: {sshd.host}
    port: {sshd.port}
    user: {sshd.user}
    key: "file:{key or sshd.client_key}"
    known_hosts: "{known}"
    insecure_host_key: {str(insecure).lower()}
sites:
  branch: {{organisation: north, vantage_points: [jump], resolvers: ["{bind.resolver}"]}}
  remote: {{organisation: north, vantage_points: [jump]}}
roles:
  clerk: {{network_resources: [open, closed, silent, named]}}
network_resources:
  open: {{host: 127.0.0.1, port: {tcp.open_port}}}
  closed: {{host: 127.0.0.1, port: {tcp.closed_port}}}
  silent: {{host: 127.0.0.1, port: {tcp.silent_port}, tcp: {{timeout: 1}}}}
  named: {{host: files.good.test, port: {tcp.open_port}}}
  by-jump: {{host: localhost, port: {tcp.open_port}}}
staff:
  - {{id: B1, organisation: north, site: branch, roles: [clerk]}}
  - {{id: R1, organisation: north, site: remote, needs: {{network_resources: [by-jump]}}}}
"""
    return helpers.load_inventory(tmp_path / "inv", text)


def test_connections_through_the_jump_host(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        results = helpers.plan_and_run(network_family, inv, ctx)
        by = {r.subject: r for r in results}
        assert {r.vantage for r in results} == {"jump"}
        assert by["network_resources:open"].status is Status.PASS
        closed = by["network_resources:closed"]
        assert closed.status is Status.FAIL and closed.root_cause.endswith("|refused")
        silent = by["network_resources:silent"]
        assert silent.status is Status.FAIL and silent.root_cause.endswith("|no-answer")
        # Name resolved through the site's resolver over the SSH channel (DNS over TCP).
        named = by["network_resources:named"]
        assert named.status is Status.PASS and named.details["addresses"] == ["127.0.0.1"]
        # A site without resolvers lets the jump host resolve the name itself.
        by_jump = by["network_resources:by-jump"]
        assert by_jump.status is Status.PASS and by_jump.details["resolvers"] == ["vantage"]
        # One SSH connection for the whole sweep.
        vantage = ctx.vantage("jump")
        assert isinstance(vantage, SSHVantage)
        transport = vantage._transport(5)
        helpers.plan_and_run(network_family, inv, ctx)
        assert vantage._transport(5) is transport
        log = (sshd.directory / "state" / "logs" / "sshd.log").read_text()
        assert log.count("Accepted publickey") >= 1
    finally:
        ctx.close()


def test_dns_family_over_the_jump_host(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets)
    ctx = helpers.run_context(inv, tmp_path / "state")
    dns.QUERIES.reset()
    try:
        results = helpers.plan_and_run(dns_family, inv, ctx)
    finally:
        ctx.close()
    named = [r for r in results if r.subject == "network_resources:named"]
    assert [(r.vantage, r.status) for r in named] == [("jump", Status.PASS)]
    assert dns.QUERIES.by_key[("files.good.test", "A", bind.resolver, "jump")] == 1
    # The jump host is written as an address: IP literals are not looked up.
    assert not [r for r in results if r.subject == "vantage_points:jump"]


def test_unknown_host_key_is_refused(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, known_hosts=empty)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        with pytest.raises(VantageError, match="host key is unknown"):
            ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 3)
        by = {r.subject: r for r in helpers.plan_and_run(network_family, inv, ctx)}
    finally:
        ctx.close()
    result = by["network_resources:open"]
    assert result.status is Status.ERROR and result.root_cause == "vantage|jump"
    assert "host key is unknown" in result.summary


def test_changed_host_key_is_refused(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, known_hosts=sshd.wrong_known_hosts)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        with pytest.raises(VantageError, match="does not match known_hosts"):
            ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 3)
    finally:
        ctx.close()


def test_insecure_host_key_opt_out(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, known_hosts=empty, insecure=True)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 3).close()
    finally:
        ctx.close()


def test_wrong_client_key_is_refused(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, key=sshd.other_key)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        with pytest.raises(VantageError) as info:
            ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 3)
    finally:
        ctx.close()
    message = str(info.value)
    assert "refused our login" in message
    secret = sshd.other_key.read_text()
    assert secret.splitlines()[1] not in message  # no key material in the message


def test_unreadable_key_reference(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, key=tmp_path / "missing.key")
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        with pytest.raises(VantageError, match="cannot read secret file"):
            ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 3)
    finally:
        ctx.close()


def test_channel_outcomes_in_sequence(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    """After a channel open times out, the next failures keep their own reasons."""
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        jump = ctx.vantage("jump")
        with pytest.raises(TimeoutError):
            jump.connect("127.0.0.1", tcp_targets.silent_port, 0.5)
        with pytest.raises(ConnectionRefusedError, match="refused"):
            jump.connect("127.0.0.1", tcp_targets.closed_port, 3)
        channel = jump.connect("127.0.0.1", tcp_targets.open_port, 3)
        channel.close()
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("good", "pass", None),
        ("changed-key", "fail", "host-key"),
        ("wrong-key", "fail", "login-refused"),
    ],
)
def test_the_vantage_login_is_a_result_of_its_own(
    case: str,
    status: str,
    reason: str | None,
    sshd: Any,
    bind: Any,
    tcp_targets: Any,
    helpers: Any,
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {
        "changed-key": {"known_hosts": sshd.wrong_known_hosts},
        "wrong-key": {"key": sshd.other_key},
    }.get(case, {})
    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets, **options)
    ctx = helpers.run_context(inv, tmp_path / "state")
    try:
        results = helpers.plan_and_run(network_family, inv, ctx)
    finally:
        ctx.close()
    (login,) = [r for r in results if r.check == "network.vantage-login"]
    assert login.subject == "vantage_points:jump" and login.status.value == status
    assert login.root_cause == "vantage|jump"
    assert login.details.get("reason") == reason
    if reason is not None:  # the probes through it share its root cause: one blocker
        others = [r for r in results if r.subject.startswith("network_resources:")]
        assert others and {r.root_cause for r in others} == {"vantage|jump"}


def test_concurrent_failing_channels_each_keep_their_reason(
    sshd: Any, bind: Any, tcp_targets: Any, helpers: Any, tmp_path: Path
) -> None:
    """paramiko keeps one failure per transport: forty channels refused at once must each
    still say "refused" (a flow check's fail), never "Unable to open channel" (an error)."""
    import threading

    inv = inventory(helpers, tmp_path, sshd, bind, tcp_targets)
    ctx = helpers.run_context(inv, tmp_path / "state")
    seen: list[str] = []

    def one() -> None:
        try:
            ctx.vantage("jump").connect("127.0.0.1", tcp_targets.closed_port, 5).close()
            seen.append("connected")
        except Exception as exc:  # which exception is the point
            seen.append(type(exc).__name__)

    try:
        ctx.vantage("jump").connect("127.0.0.1", tcp_targets.open_port, 5).close()
        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ctx.close()
    assert seen == ["ConnectionRefusedError"] * 40

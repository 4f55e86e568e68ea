"""The applications family against real servers: nginx (TLS, SNI, basic auth, redirects,
503, a huge and a slow body), the lab's form-login application behind it, sockets that
refuse, reset or never answer, and an OpenSSH jump host (up, down, host key changed).

Every application is ``files.good.test`` (BIND's test zone: 127.0.0.1) on its own port:
one nginx server block per behaviour.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from readiness.inventory import Inventory, load
from readiness.ledger import AttemptLedger
from readiness.results import Result, Status
from readiness_checks.applications import family as applications
from readiness_checks.applications.check_ids import PILOT
from readiness_checks.applications.http import REQUESTS
from readiness_checks.applications.probe import HANDSHAKES
from readiness_lab.formlogin import users_file
from readiness_lab.process import Supervisor, run, tcp_ready
from tests.listeners import resetting_listener
from tests.net.certs import build, make_ca
from tests.net.conftest import free_port

pytestmark = pytest.mark.integration

HOST = "files.good.test"
GO_LIVE = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)  # the helpers' go-live and clock
PILOT_PASSWORD = "pilot-secret-1"


@dataclass
class Web:
    ports: dict[str, int]
    ca_file: Path
    folder: Path


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    if shutil.which("nginx") is None:
        pytest.fail("nginx (Debian package nginx) is not installed: the application tests need it")
    base = tmp_path_factory.mktemp("apps-web")
    ca, other_ca = make_ca("Apps Test CA"), make_ca("Unknown CA")
    ca_file, _ = ca.write(base, "ca")
    now = dt.datetime.now(dt.UTC)
    certs = {
        "good": build(HOST, issuer=ca, not_after=GO_LIVE + dt.timedelta(days=400)),
        "expired": build(
            HOST,
            issuer=ca,
            not_before=now - dt.timedelta(days=90),
            not_after=now - dt.timedelta(days=1),
        ),
        "expiring": build(HOST, issuer=ca, not_after=GO_LIVE + dt.timedelta(days=5)),
        "wrong-name": build("other.good.test", issuer=ca),
        "unknown-ca": build(HOST, issuer=other_ca, not_after=GO_LIVE + dt.timedelta(days=400)),
    }
    files = {kind: cert.write(base, kind) for kind, cert in certs.items()}
    (base / "html").mkdir()
    (base / "html" / "huge.txt").write_bytes(b"x" * 3_000_000)
    (base / "html" / "slow.txt").write_bytes(b"s" * 4096)
    hashed = run(["openssl", "passwd", "-5", "-stdin"], input=PILOT_PASSWORD + "\n").stdout
    (base / "htpasswd").write_text(f"pilot1:{hashed.strip()}\n")
    (base / "users").write_text(users_file({"pilot1": PILOT_PASSWORD}))
    supervisor = Supervisor(base / "state")
    form_port = free_port("127.0.0.1")
    supervisor.start(
        "formlogin",
        [
            sys.executable,
            "-m",
            "readiness_lab.formlogin",
            "127.0.0.1",
            str(form_port),
            str(base / "users"),
        ],
        ready=tcp_ready("127.0.0.1", form_port),
        ready_timeout=15,
    )
    ports: dict[str, int] = {}
    good = """
        location = /health { return 200 "ok\\n"; }
        location = /login { return 302 https://idp.good.test/sso; }
        location = /evil-login { return 302 https://evil.test/sso; }
        location = /loop-a { return 302 /loop-b; }
        location = /loop-b { return 302 /loop-a; }
        location = /moved { return 301 /health; }
        location = /huge.txt { root HTML; }
        location = /slow.txt { root HTML; limit_rate 200; }
        location /pilot/ {
            auth_basic "pilot"; auth_basic_user_file HTPASSWD; alias HTML/; index slow.txt;
        }
        location = / { return 200 "Files\\n"; }
    """.replace("HTML", str(base / "html")).replace("HTPASSWD", str(base / "htpasswd"))
    behaviours = {
        "good": ("good", good),
        "expired": ("expired", 'location / { return 200 "ok\\n"; }'),
        "expiring": ("expiring", 'location / { return 200 "ok\\n"; }'),
        "wrong-name": ("wrong-name", 'location / { return 200 "ok\\n"; }'),
        "unknown-ca": ("unknown-ca", 'location / { return 200 "ok\\n"; }'),
        "503": ("good", 'location / { return 503 "down\\n"; }'),
        "form": ("good", f"location / {{ proxy_pass http://127.0.0.1:{form_port}; }}"),
    }
    blocks = []
    for name, (cert, body) in behaviours.items():
        ports[name] = free_port("127.0.0.1")
        chain, key = files[cert]
        blocks.append(f"""
    server {{
        listen 127.0.0.1:{ports[name]} ssl;
        server_name {HOST};
        ssl_certificate {chain};
        ssl_certificate_key {key};
        default_type text/plain;
        {body}
    }}""")
    # A TLS port that refuses every handshake.
    ports["handshake"] = free_port("127.0.0.1")
    blocks.append(
        f"server {{ listen 127.0.0.1:{ports['handshake']} ssl; ssl_reject_handshake on; }}"
    )
    ports["plain"] = free_port("127.0.0.1")
    blocks.append(f'server {{ listen 127.0.0.1:{ports["plain"]}; return 200 "plain ok\\n"; }}')
    temp = " ".join(
        f"{kind}_temp_path {base}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = base / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
user root root;
pid {base}/nginx.pid;
error_log {base}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {base}/access.log;
    {temp}
    {"".join(blocks)}
}}
""")
    run(["nginx", "-t", "-c", str(conf), "-e", f"{base}/error.log"])
    supervisor.start(
        "nginx",
        ["nginx", "-c", str(conf), "-e", f"{base}/error.log"],
        ready=tcp_ready("127.0.0.1", ports["plain"]),
        ready_timeout=15,
    )
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does) and never says a word
    ports["silent"] = int(silent.getsockname()[1])
    reset, _ = resetting_listener()
    ports["reset"] = int(reset.getsockname()[1])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    ports["closed"] = int(closed.getsockname()[1])
    try:
        yield Web(ports, ca_file, base)
    finally:
        supervisor.stop()
        for sock in (silent, reset, closed):
            sock.close()


def app(name: str, port: int, http: str = "{}", scheme: str = "https") -> str:
    return f'  {name}: {{url: "{scheme}://{HOST}:{port}/", owner: Apps team, http: {http}}}\n'


def inventory(folder: Path, bind: Any, web: Web, apps: str, extra: str = "") -> Inventory:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pw").write_text(PILOT_PASSWORD)
    (folder / "inventory.yaml").write_text(f"""
programme: {{name: T, go_live: 2027-01-04, resolvers: ["{bind.resolver}"]}}
organisations:
  north: {{name: North, ca_bundle: "{web.ca_file}"}}
sites:
  hq: {{organisation: north, resolvers: ["{bind.resolver}"]}}
roles:
  clerk: {{applications: [{", ".join(line.split(":")[0].strip() for line in apps.splitlines())}]}}
applications:
{apps}
staff:
  - {{id: N1, organisation: north, site: hq, roles: [clerk], username: pilot1,
      pilot: true, credential: "file:pw"}}
{extra}
""")
    from readiness_checks.network import family as network

    return load(folder, [applications, network])


def sweep(helpers: Any, inv: Inventory, state: Path) -> dict[tuple[str, str], Result]:
    ctx = helpers.run_context(inv, state)
    try:
        results = helpers.plan_and_run(applications, inv, ctx)
    finally:
        ctx.close()
    return {(r.subject.split(":", 1)[1], r.check): r for r in results}


def test_a_healthy_application_once_per_vantage_point(
    bind: Any, web: Web, helpers: Any, tmp_path: Path
) -> None:
    http = (
        "{path: /health, expect_content: ok, login_redirect: {path: /login, host: "
        "idp.good.test}, pilot: {method: basic, path: /pilot/}}"
    )
    inv = inventory(tmp_path / "inv", bind, web, app("files", web.ports["good"], http))
    handshakes, requests = HANDSHAKES.count, REQUESTS.count
    by = sweep(helpers, inv, tmp_path / "state")
    for check in (
        "http.connect",
        "tls.handshake",
        "tls.certificate-chain",
        "tls.certificate-name",
        "tls.certificate-valid",
        "tls.protocol",
        "tls.key",
        "http.status",
        "http.content",
        "http.redirect",
        "http.response-time",
    ):
        assert by[("files", check)].status is Status.PASS, by[("files", check)]
    assert by[("files", "http.status")].sites == ("hq",)
    pilot = by[("north/N1", "http.pilot-login")]
    assert pilot.status is Status.PASS and pilot.need == "application:files"
    # One handshake and three requests on one connection; the pilot's own session.
    assert HANDSHAKES.count - handshakes == 2
    assert REQUESTS.count - requests == 3


def test_certificate_faults_and_a_503_are_separate_results(
    bind: Any, web: Web, helpers: Any, tmp_path: Path
) -> None:
    apps = (
        app("expired", web.ports["expired"])
        + app("wrong", web.ports["wrong-name"])
        + app("unknown", web.ports["unknown-ca"])
        + app("soon", web.ports["expiring"], "{min_cert_days: 30}")
        + app("down", web.ports["503"])
    )
    by = sweep(helpers, inventory(tmp_path / "inv", bind, web, apps), tmp_path / "state")
    expired = by[("expired", "tls.certificate-valid")]
    assert expired.status is Status.FAIL and "expired" in expired.summary
    assert by[("expired", "tls.certificate-chain")].status is not Status.FAIL  # one fault
    assert by[("expired", "http.status")].status is Status.PASS  # still answers
    assert by[("wrong", "tls.certificate-name")].status is Status.FAIL
    assert "other.good.test" in by[("wrong", "tls.certificate-name")].observed
    assert by[("unknown", "tls.certificate-chain")].status is Status.FAIL
    soon = by[("soon", "tls.certificate-valid")]
    assert soon.status is Status.FAIL and "at least 30" in soon.summary
    down = by[("down", "http.status")]
    assert down.status is Status.FAIL and down.observed.startswith("503")
    assert down.root_cause == "http.status|down|503" and down.owner == "Apps team"


def test_bad_answers(bind: Any, web: Web, helpers: Any, tmp_path: Path) -> None:
    p = web.ports
    apps = (
        app("refused", p["closed"])
        + app("reset", p["reset"])
        + app("silent", p["silent"], "{timeout: 1}")
        + app("handshake", p["handshake"])
        + app("loop", p["good"], "{path: /loop-a}")
        + app("moved", p["good"], "{path: /moved}")
        + app("evil", p["good"], "{login_redirect: {path: /evil-login, host: idp.good.test}}")
        + app("huge", p["good"], "{path: /huge.txt, expect_content: zzz, max_body: 65536}")
        + app("slow", p["good"], "{path: /slow.txt, timeout: 2}")
        + app("plain", p["plain"], "{expect_content: plain}", scheme="http")
    )
    by = sweep(helpers, inventory(tmp_path / "inv", bind, web, apps), tmp_path / "state")
    refused = by[("refused", "http.connect")]
    assert refused.status is Status.FAIL and refused.root_cause.endswith("|refused")
    assert by[("refused", "tls.handshake")].status is Status.SKIP
    # The reset lands during the connect or the handshake: either is told, nothing crashes.
    reset = [by[("reset", "http.connect")], by[("reset", "tls.handshake")]]
    assert reset[0].status is not Status.PASS or reset[1].status in (Status.FAIL, Status.ERROR)
    assert by[("reset", "http.status")].status is Status.SKIP
    assert not [r for r in by.values() if r.root_cause.startswith("crash")]
    silent = by[("silent", "tls.handshake")]
    assert silent.status is Status.ERROR and "1 s" in silent.summary + silent.observed
    assert by[("handshake", "tls.handshake")].status is Status.FAIL
    loop = by[("loop", "http.status")]
    assert loop.status is Status.FAIL and loop.root_cause == "http.status|loop|redirect-loop"
    assert by[("moved", "http.status")].status is Status.PASS  # a same-host redirect followed
    evil = by[("evil", "http.redirect")]
    assert evil.status is Status.FAIL and "evil.test" in evil.summary
    huge = by[("huge", "http.content")]
    assert huge.status is Status.FAIL and "cut at 65536" in huge.observed
    slow = by[("slow", "http.response-time")]
    assert slow.status is Status.FAIL and by[("slow", "http.status")].status is Status.PASS
    assert slow.duration_ms < 6000
    assert by[("plain", "http.content")].status is Status.PASS


def test_pilot_logins_are_lockout_safe(bind: Any, web: Web, helpers: Any, tmp_path: Path) -> None:
    form = "{pilot: {method: form, path: /login}}"
    basic = "{pilot: {method: basic, path: /pilot/}}"
    apps = app("form", web.ports["form"], form) + app("basic", web.ports["good"], basic)
    inv = inventory(tmp_path / "inv", bind, web, apps)
    by = sweep(helpers, inv, tmp_path / "state")
    assert by[("north/N1", "http.pilot-login")].status is Status.PASS  # the last of two
    assert {r.status for k, r in by.items() if k[1] == "http.pilot-login"} == {Status.PASS}
    # A wrong password: one attempt per sweep, never retried, then the budget stops it.
    (inv.root / "pw").write_text("wrong")
    for n in range(3):
        ctx = helpers.run_context(inv, tmp_path / "state2")
        try:
            pilots = [r for r in helpers.plan_and_run(applications, inv, ctx) if r.check == PILOT]
        finally:
            ctx.close()
        assert len(pilots) == 2, pilots
        for r in pilots:
            if n < 2:
                assert r.status is Status.FAIL and "not retried" in r.summary, r
            else:
                assert r.status is Status.ERROR and "not attempted" in r.summary, r
    with AttemptLedger(tmp_path / "state2" / "ledger.sqlite") as ledger:
        for realm in ("form", "basic"):
            sent = [a for a in ledger.history(realm, "pilot1") if a.outcome == "failure"]
            assert len(sent) == 2  # the budget, never more


def test_a_pilot_password_never_goes_to_an_untrusted_server(
    bind: Any, web: Web, helpers: Any, tmp_path: Path
) -> None:
    apps = app("unknown", web.ports["unknown-ca"], "{pilot: {method: basic, path: /}}")
    by = sweep(helpers, inventory(tmp_path / "inv", bind, web, apps), tmp_path / "state")
    pilot = by[("north/N1", "http.pilot-login")]
    # The application's own TLS fails from there: the login is not even tried.
    assert pilot.status is Status.SKIP and "not attempted" in pilot.summary
    assert "tls.certificate-chain" in pilot.summary


def test_through_a_jump_host_up_down_and_with_a_changed_key(
    bind: Any, web: Web, sshd: Any, helpers: Any, tmp_path: Path
) -> None:
    def jump(name: str, port: int, known: Path) -> str:
        return (
            f"  {name}: {{kind: ssh, host: {sshd.host}, port: {port}, user: {sshd.user}, "
            f'key: "file:{sshd.client_key}", known_hosts: "{known}"}}\n'
        )

    dead = free_port(sshd.host)
    extra = (
        "vantage_points:\n"
        + jump("up", sshd.port, sshd.known_hosts)
        + jump("down", dead, sshd.known_hosts)
        + jump("changed", sshd.port, sshd.wrong_known_hosts)
    )
    results: dict[str, dict[tuple[str, str], Result]] = {}
    for vantage in ("up", "down", "changed"):
        folder = tmp_path / vantage
        inv = inventory(folder, bind, web, app("files", web.ports["good"]), extra)
        text = (folder / "inventory.yaml").read_text()
        text = text.replace(
            f'hq: {{organisation: north, resolvers: ["{bind.resolver}"]}}',
            f'hq: {{organisation: north, resolvers: ["{bind.resolver}"], '
            f"vantage_points: [{vantage}]}}",
        )
        (folder / "inventory.yaml").write_text(text)
        from readiness_checks.network import family as network

        inv = load(folder, [applications, network])
        results[vantage] = sweep(helpers, inv, folder / "state")
    up = results["up"][("files", "http.status")]
    assert up.status is Status.PASS and up.vantage == "up"
    for broken, words in (("down", "cannot connect"), ("changed", "host key")):
        connect = results[broken][("files", "http.connect")]
        assert connect.status is Status.ERROR and words in connect.summary
        assert connect.root_cause == f"vantage|{broken}"

"""nginx serving the shared applications over TLS (one server block per app, SNI).

All applications listen on one address (the lab's 127.N.4.10) and port 443, but for
a published one (``App.address``: the remote-access entry point on 127.N.4.20, which
the perimeter lets the internet reach, lab/internet.py); each has its own certificate
from the LabCA, ``/health`` (200 "ok"), ``/`` (200 with the application's name), and
optionally ``/pilot/`` behind HTTP basic auth (htpasswd of the pilot accounts) and
``/login`` answering 302 to an identity provider URL (like an SSO front). A name
nginx does not know is refused at the TLS handshake.

Faults per application (:class:`App` ``fault``, or :func:`set_fault` + reload):
``"expired"`` (certificate expired yesterday), ``"wrong-name"`` (certificate for
``wrong-host.valeshared.test`` only), ``"503"`` (every path answers 503).

Own prefix ``<state>/nginx``; ``nginx -t`` runs before every start and reload.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .ca import LabCA
from .process import LabError, Supervisor, run

Fault = Literal["expired", "wrong-name", "503", "unknown-ca", "expiring"]
FAULTS: tuple[Fault, ...] = ("expired", "wrong-name", "503", "unknown-ca", "expiring")
EXPIRING_DAYS = 5  # "expiring": the certificate ends this many days after go-live
FORM_PORT = 8081  # the form-login application behind nginx, on the lab's web address
WRONG_NAME = "wrong-host.valeshared.test"

# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class App:
    id: str  # e.g. "housing"
    host: str  # e.g. "housing.valeshared.test"
    name: str = ""  # display name, shown on "/"
    fault: Fault | None = None
    pilot_auth: bool = False  # /pilot/ requires basic auth of a pilot account
    sso_redirect: str | None = None  # /login -> 302 to this URL
    form_login: bool = False  # served by the form-login application (lab/formlogin.py)
    address: str | None = None  # listen here, not on the lab's web address (published)


@dataclass
class WebSpec:
    apps: list[App]
    pilots: dict[str, str] = field(default_factory=dict)  # username -> password (plain)
    address: str = field(kw_only=True)  # the lab's: Slot.web
    port: int = 443
    go_live: dt.date | None = field(default=None, kw_only=True)  # for "expiring"


@dataclass
class WebLab:
    prefix: Path
    url: dict[str, str]  # app id -> https://host/
    ca_bundle: Path


# --------------------------------------------------------------------------- public API

PROCESS = "nginx"
FORM_PROCESS = "formlogin"


def start(spec: WebSpec, sup: Supervisor, ca: LabCA) -> WebLab:
    """Issue certificates, write the config and htpasswd, ``nginx -t``, start nginx."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise LabError("nginx is missing (Debian package nginx)")
    prefix = _prefix(sup)
    for sub in ("logs", "tmp", "certs", "html"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    _write(spec, prefix, ca)
    run([nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "logs/error.log", "-t"])
    if any(a.form_login for a in spec.apps):
        from .formlogin import users_file

        users = prefix / "form-users"
        users.touch(mode=0o600, exist_ok=True)
        users.write_text(users_file(spec.pilots))
        sup.start(
            FORM_PROCESS,
            [
                sys.executable,
                "-m",
                "readiness_lab.formlogin",
                spec.address,
                str(FORM_PORT),
                str(users),
            ],
            ready=functools.partial(_connectable, spec.address, FORM_PORT),
            ready_timeout=15,
        )
    sup.start(
        PROCESS,
        [
            nginx,
            "-p",
            f"{prefix}/",
            "-c",
            "nginx.conf",
            "-e",
            "logs/error.log",
            "-g",
            "daemon off;",
        ],
        ready=functools.partial(_connectable, spec.address, spec.port),
        ready_timeout=15,
    )
    return WebLab(prefix, {a.id: f"https://{a.host}/" for a in spec.apps}, ca.cert_path)


def stop(sup: Supervisor) -> list[str]:
    """Stop nginx (master and workers: its process group) and the form application by PID."""
    return sup.stop(PROCESS) + sup.stop(FORM_PROCESS)


def set_fault(
    spec: WebSpec, app_id: str, fault: Fault | None, sup: Supervisor, ca: LabCA
) -> WebSpec:
    """Change one application's fault and reload the running nginx; returns the new spec."""
    apps = [replace(a, fault=fault) if a.id == app_id else a for a in spec.apps]
    if not any(a.id == app_id for a in spec.apps):
        raise LabError(f"no application {app_id!r}")
    new = replace(spec, apps=apps)
    reload(new, sup, ca)
    return new


def reload(spec: WebSpec, sup: Supervisor, ca: LabCA) -> None:
    """Rewrite the config from ``spec``, check it, SIGHUP the nginx master, and wait
    until a worker with the new configuration runs (up to 5 s)."""
    prefix = _prefix(sup)
    _write(spec, prefix, ca)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    run([nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "logs/error.log", "-t"])
    for m in sup.processes():
        if m.name == PROCESS:
            before = _workers(m.pid)
            os.kill(m.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (_workers(m.pid) - before):
                time.sleep(0.02)
            return
    raise LabError("nginx is not running")


# --------------------------------------------------------------------------- internals


def _workers(master: int) -> set[int]:
    """PIDs of the nginx master's children (its workers)."""
    children = Path(f"/proc/{master}/task/{master}/children")
    try:
        return {int(p) for p in children.read_text().split()}
    except OSError:
        return set()


def _prefix(sup: Supervisor) -> Path:
    return sup.state_dir / "nginx"


def _cert(app: App, ca: LabCA, go_live: dt.date | None = None) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.UTC)
    if app.fault == "unknown-ca":
        other = LabCA(ca.dir / "unknown-ca", name="Someone Else's Root CA")
        issued = other.issue(f"web-{app.id}-unknown-ca", [app.host])
    elif app.fault == "expiring":
        end = dt.datetime.combine(go_live or now.date(), dt.time(), dt.UTC)
        issued = ca.issue(
            f"web-{app.id}-expiring", [app.host], not_after=end + dt.timedelta(days=EXPIRING_DAYS)
        )
    elif app.fault == "expired":
        issued = ca.issue(
            f"web-{app.id}-expired",
            [app.host],
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=1),
        )
    elif app.fault == "wrong-name":
        issued = ca.issue(f"web-{app.id}-wrong-name", [WRONG_NAME])
    else:
        issued = ca.issue(f"web-{app.id}", [app.host])
    return issued.chain, issued.key


def _htpasswd(pilots: dict[str, str]) -> str:
    lines = []
    for user, password in sorted(pilots.items()):
        if ":" in user or "\n" in user:
            raise LabError("a pilot user name contains ':' or a newline")
        hashed = run(["openssl", "passwd", "-5", "-stdin"], input=password + "\n").stdout.strip()
        lines.append(f"{user}:{hashed}")
    return "\n".join(lines) + "\n"


def _write(spec: WebSpec, prefix: Path, ca: LabCA) -> None:
    htpasswd = prefix / "htpasswd"
    htpasswd.touch(mode=0o600, exist_ok=True)
    htpasswd.chmod(0o600)
    htpasswd.write_text(_htpasswd(spec.pilots))
    pilot_dir = prefix / "html" / "pilot"
    pilot_dir.mkdir(parents=True, exist_ok=True)
    (pilot_dir / "index.txt").write_text("pilot area\n")
    addresses = sorted({spec.address, *(a.address for a in spec.apps if a.address)})
    blocks = [
        f"""    server {{
        listen {address}:{spec.port} ssl default_server;
        ssl_reject_handshake on;
    }}
"""
        for address in addresses
    ]
    for app in spec.apps:
        listen = f"{app.address or spec.address}:{spec.port}"
        chain, key = _cert(app, ca, spec.go_live)
        title = (app.name or app.id).replace('"', "")
        if app.fault == "503":
            body = '        location / { return 503 "unavailable\\n"; }\n'
        elif app.form_login:
            body = (
                f"        location / {{ proxy_pass http://{spec.address}:{FORM_PORT}; "
                "proxy_set_header Host $host; }\n"
            )
        else:
            body = '        location = /health { return 200 "ok\\n"; }\n'
            body += f'        location = / {{ return 200 "{title}\\n"; }}\n'
            if app.pilot_auth:
                # `return` would run before the access phase; serve a file instead.
                body += (
                    '        location /pilot/ { auth_basic "pilot"; '
                    f"auth_basic_user_file {htpasswd}; alias {pilot_dir}/; "
                    "index index.txt; }\n"
                )
            if app.sso_redirect:
                body += f"        location = /login {{ return 302 {app.sso_redirect}; }}\n"
            body += '        location / { return 404 "not found\\n"; }\n'
        blocks.append(f"""    server {{
        listen {listen} ssl;
        server_name {app.host};
        ssl_certificate {chain};
        ssl_certificate_key {key};
        default_type text/plain;
{body}    }}
""")
    conf = f"""# written by the readiness lab
user root root;  # the lab state folder may be private (0700): workers read htpasswd there
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
    server_names_hash_bucket_size 128;
{"".join(blocks)}}}
"""
    (prefix / "nginx.conf").write_text(conf)


def _connectable(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=0.5):
        return True

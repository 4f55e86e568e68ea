"""The application behind nginx's form login: an HTML form that checks a password.

nginx cannot read a posted form, so the lab's form-login application is this small
WSGI program (the standard library's wsgiref), served behind nginx ``proxy_pass`` as
real applications are. ``GET /login`` shows the form; ``POST /login`` with
``username`` and ``password`` answers ``303`` to ``/home`` with a session cookie when
they match the users file (``user:sha256-hex`` per line), else ``200`` with the form
and "invalid user name or password" (as most applications do: no 401 for a form).
``GET /health`` answers ``ok``. Run: ``python -m readiness_lab.formlogin ADDRESS PORT
USERS``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

FORM = (
    b"<html><body><form method='post' action='/login'>"
    b"<input name='username'><input name='password' type='password'>"
    b"<button>Sign in</button></form>%s</body></html>\n"
)


def hashed(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def users_file(users: dict[str, str]) -> str:
    """The users file for ``username -> password``."""
    return "".join(f"{u}:{hashed(p)}\n" for u, p in sorted(users.items()))


def application(users: dict[str, str]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        if path == "/health":
            start("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path != "/login":
            start("302 Found", [("Location", "/login")])
            return [b""]
        if method != "POST":
            start("200 OK", [("Content-Type", "text/html")])
            return [FORM % b""]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = urllib.parse.parse_qs(environ["wsgi.input"].read(min(size, 4096)).decode())
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        expected = users.get(user, "")
        if expected and hmac.compare_digest(expected, hashed(password)):
            cookie = f"session={secrets.token_hex(8)}; Secure; HttpOnly"
            start("303 See Other", [("Location", "/home"), ("Set-Cookie", cookie)])
            return [b""]
        start("200 OK", [("Content-Type", "text/html")])
        return [FORM % b"<p>invalid user name or password</p>"]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main(argv: list[str]) -> None:
    address, port, path = argv[0], int(argv[1]), Path(argv[2])
    users = dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
    with make_server(address, port, application(users), handler_class=_Quiet) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

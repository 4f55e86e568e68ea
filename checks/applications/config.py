"""The applications family's block on the core's applications: ``applications.<id>.http``.

applications:
  intranet:
    url: https://intranet.valeshared.test/
    http:
      path: /health                # what the status and content checks ask for
      expect_status: [200]
      expect_content: ok           # text the body must contain
      login_redirect: {path: /login, host: login.valeshared.test}   # the SSO front
      response_time_ms: 2000       # slower is a warning
      min_cert_days: 30            # the certificate must last this long after go-live
      pilot: {method: basic, path: /pilot/}     # pilot accounts really log in
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from readiness.inventory.models import OPT_OUT, Hostname, Strict

__all__ = ["Http", "LoginRedirect", "Pilot"]

Path = str


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"a path starts with '/': {value!r}")
    return value


class LoginRedirect(Strict):
    """A request to ``path`` must be redirected to the identity provider ``host``."""

    path: Path = Field("/", description="The path that must redirect (e.g. /login)")
    host: Hostname = Field(description="The SSO/login host the redirect must land on")

    @model_validator(mode="after")
    def _check(self) -> LoginRedirect:
        _path(self.path)
        return self


class Pilot(Strict):
    """A real login for pilot accounts (lockout-safe: the attempt ledger)."""

    method: Literal["basic", "form"] = Field(description="HTTP basic auth or an HTML form")
    path: Path = Field(description="basic: a protected path; form: where the form posts")
    username_field: str = Field("username", description="form: the user name field")
    password_field: str = Field("password", description="form: the password field")
    expect_status: list[int] = Field(
        default_factory=list,
        description="Statuses meaning 'logged in' (default: basic [200], form [302, 303])",
    )
    success_content: str | None = Field(None, description="Text the answer must contain")
    realm: str | None = Field(
        None,
        description="Where the account authenticates, for the lockout budget (default: the "
        "application id; name the directory it checks passwords against to share its budget)",
    )
    attempt_budget: int = Field(2, ge=1, description="Failed logins allowed per window")
    attempt_window_hours: float = Field(24.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Pilot:
        _path(self.path)
        return self

    @property
    def success(self) -> list[int]:
        return self.expect_status or ([200] if self.method == "basic" else [302, 303])


class Http(Strict):
    """How to check one application over HTTP(S)."""

    path: Path | None = Field(None, description="What to request (default: the URL's path)")
    expect_status: list[int] = Field(default_factory=lambda: [200])
    expect_content: str | None = Field(None, description="Text the body must contain")
    follow_redirects: int = Field(
        5, ge=0, le=20, description="Redirects within the same host followed for the status"
    )
    login_redirect: LoginRedirect | None = None
    response_time_ms: float = Field(2000, gt=0, description="Slower answers are a warning")
    min_cert_days: int = Field(14, ge=0, description="Certificate days required after go-live")
    warn_cert_days: int = Field(30, ge=0, description="Fewer days left is a warning")
    verify_tls: bool = Field(
        True, description="Verify the chain (keep on)", json_schema_extra=OPT_OUT
    )
    ca_bundle: str | None = Field(None, description="CA bundle (PEM), relative to the file")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per request")
    max_body: int = Field(65536, ge=1024, le=16 * 1024 * 1024, description="Bytes of body read")
    pilot: Pilot | None = None

    @model_validator(mode="after")
    def _check(self) -> Http:
        if self.path is not None:
            _path(self.path)
        return self


@dataclass(frozen=True)
class Target:
    """One application as one vantage point sees it (or one pilot's login)."""

    app: str
    url: str
    host: str
    port: int
    https: bool
    path: str
    resolvers: tuple[str, ...]
    owner: str
    asking: tuple[str, ...] = ()
    username: str = ""  # pilots only
    credential: str = ""  # a secret reference; pilots only

"""The gate policy: a YAML file agreed before cutover, validated like the inventory
(typed strict models that are also its JSON Schema, every problem with file:line).

    critical: [identity.account-usable, identity.account-exists]   # must pass for everyone
    thresholds:
      - {per: site, min_ready_pct: 98}                  # every site at least 98% ready
      - {name: service desk, role: service-desk, min_ready_pct: 100}
    max_unknown: 10                                     # people whose readiness is unknown
    regressions: fail                                   # against the previous stored sweep
    waivers:
      - match: "staff:north/N00007|identity.account-usable|*"
        owner: Northvale identity team
        reason: on leave until February; account re-enabled on return
        expires: 2027-01-31
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from readiness.inventory.explain import explain
from readiness.inventory.loader import Locations, load_yaml
from readiness.inventory.models import Strict
from readiness.problems import Problem, ProblemError

__all__ = ["Policy", "Threshold", "Waiver", "load_policy", "policy_schema"]


class Threshold(Strict):
    """At least ``min_ready_pct`` of the people in each unit (the whole programme, each
    organisation or each site) are ready; optionally only a named group of people."""

    name: str = ""
    per: Literal["programme", "organisation", "site"] = "programme"
    min_ready_pct: float = Field(ge=0, le=100)
    role: str | None = None  # only people with this role
    tag: str | None = None  # only people with this tag
    organisation: str | None = None
    site: str | None = None

    @property
    def label(self) -> str:
        group = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("role", self.role),
                ("tag", self.tag),
                ("organisation", self.organisation),
                ("site", self.site),
            )
            if v
        )
        what = self.name or (group if group else f"each {self.per}")
        return f"threshold {what} >= {self.min_ready_pct:g}% ready"


class Waiver(Strict):
    """An accepted exception: failures whose result id matches, owned, explained and
    expiring. ``match`` is a glob over the whole id (``subject|check|target|vantage``);
    or give ``subject``, ``check`` and ``target`` globs (``*`` when left out)."""

    match: str = ""
    subject: str = ""
    check: str = ""
    target: str = ""
    owner: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: dt.date

    @model_validator(mode="after")
    def _one_way(self) -> Waiver:
        if self.match and (self.subject or self.check or self.target):
            raise ValueError("give either match or subject/check/target, not both")
        if not (self.match or self.subject or self.check or self.target):
            raise ValueError("a waiver needs match, or at least one of subject, check, target")
        return self

    @property
    def pattern(self) -> str:
        if self.match:
            return self.match
        return f"{self.subject or '*'}|{self.check or '*'}|{self.target or '*'}|*"


class Policy(Strict):
    """Go/no-go rules and accepted exceptions."""

    critical: tuple[str, ...] = ()  # check ids (globs) that must pass for everyone in scope
    thresholds: tuple[Threshold, ...] = ()
    max_unknown: int | None = Field(default=None, ge=0)
    regressions: Literal["fail", "allow"] = "fail"
    require_complete: bool = True  # a partial (interrupted, sharded) sweep is a NO-GO
    waivers: tuple[Waiver, ...] = ()


def policy_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Day-1 readiness gate policy"
    return schema


def load_policy(path: Path) -> Policy:
    """The policy in ``path``; :class:`ProblemError` listing every problem otherwise."""
    documents, problems = load_yaml(path)
    if problems:
        raise ProblemError(problems)
    if len(documents) != 1 or not isinstance(documents[0][0], dict):
        hint = "start with e.g. `critical: [identity.account-usable]`"
        raise ProblemError([Problem(str(path), "a gate policy is one YAML mapping", hint)])
    data, locs = documents[0]
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(explain(exc, Policy, Locations(locs))) from None

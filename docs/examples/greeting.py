"""A toy check family, the one of docs/writing-a-family.md: each network resource with a
``greeting`` block greets a new TCP connection with the line it expects (an SSH server
says ``SSH-2.0-...``, an SMTP server ``220 ...``), from each site that needs it.

Install it as any third-party family: a package with this module, and in its
pyproject.toml::

    [project.entry-points."readiness.families"]
    greeting = "greeting:family"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, Field

from readiness.family import CheckFamily, CheckSpec, PlanContext, Probe, RunContext
from readiness.inventory import NeedKind, block
from readiness.inventory.models import Strict
from readiness.net.dns import ResolveError
from readiness.results import Result, Status

CHECK = "greeting.first-line"


class Greeting(Strict):
    """The block this family attaches to a network resource."""

    expect: str = Field(description="The start of the first line the server sends")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for it")


@dataclass(frozen=True)
class Params:
    host: str
    port: int
    expect: str
    owner: str


class GreetingFamily(CheckFamily[Params]):
    name = "greeting"
    description = "Network resources greet a new connection with the expected line"
    blocks: ClassVar[dict[tuple[str, str], type[BaseModel]]] = {
        ("network_resources", "greeting"): Greeting
    }
    checks: ClassVar[Sequence[CheckSpec]] = (
        CheckSpec(CHECK, "the server's first line starts as expected"),
    )
    verifies: ClassVar[frozenset[NeedKind]] = frozenset({NeedKind.NETWORK_RESOURCE})
    reads: ClassVar[Sequence[str]] = ("network_resources.*.greeting",)

    def plan(self, ctx: PlanContext) -> Iterator[Probe[Params]]:
        for res_id, res in sorted(ctx.inventory.network_resources.items()):
            greeting = block(res, "greeting", Greeting)
            if greeting is None:
                continue
            subject = f"network_resources:{res_id}"
            sites = sorted(ctx.sites_needing.get(subject, ()))
            vantages = sorted({v for s in sites for v in ctx.inventory.sites[s].vantage_points})
            for vantage in vantages or ["local"]:
                yield Probe(
                    self.name,
                    CHECK,
                    subject,
                    f"{res.host}:{res.port}",
                    Params(res.host, res.port, greeting.expect, res.owner),
                    vantage=vantage,
                    server=f"{res.host}:{res.port}",
                    timeout=greeting.timeout,
                    sites=tuple(sites),
                    summary=f"read the first line of {res.host}:{res.port}",
                )

    def run(self, probes: Sequence[Probe[Params]], ctx: RunContext) -> Iterator[Result]:
        for probe in probes:
            yield self._one(probe, ctx)

    def _one(self, probe: Probe[Params], ctx: RunContext) -> Result:
        p = probe.params
        try:
            address = ctx.dns.resolve(p.host)[0]  # the sweep's DNS: asked once per sweep
        except ResolveError as exc:
            return probe.result(
                Status.ERROR,
                f"could not resolve {p.host}: {exc.detail}",
                hint="see the dns.resolves result for this name",
                root_cause=f"dns|{p.host}|{exc.outcome}",
            )
        try:
            stream = ctx.vantage(probe.vantage).connect(address, p.port, probe.timeout)
        except OSError as exc:  # "we could not ask" is an error, never a fail
            return probe.result(
                Status.ERROR,
                f"could not connect to {probe.target}: {exc}",
                hint="see the network.tcp-connect result for this resource",
                root_cause=f"tcp|{probe.target}",
            )
        with contextlib.closing(stream):
            try:
                line = stream.recv(512).split(b"\n", 1)[0].decode("ascii", "replace").strip()
            except OSError as exc:
                return probe.result(
                    Status.ERROR,
                    f"{probe.target} sent nothing: {exc}",
                    hint="check that the service runs and is not overloaded",
                )
        if line.startswith(p.expect):
            return probe.result(
                Status.PASS,
                f"{probe.target} greets with {line!r}",
                expected=f"{p.expect}...",
                observed=line,
            )
        return probe.result(
            Status.FAIL,
            f"{probe.target} greets with {line!r}",
            expected=f"{p.expect}...",
            observed=line,
            owner=p.owner,
            impact="staff cannot use this service as planned on Day 1",
            hint=f"check which service answers on port {p.port}",
        )


family = GreetingFamily()

"""SPF evaluated (RFC 7208) by pyspf, its DNS asked through the sweep's resolvers.

pyspf resolves through one module-level function, ``spf.DNSLookup`` (it chooses
between pydns and dnspython there itself). :func:`evaluate` installs a dispatcher in
its place once, and each evaluation sets, for its own thread, the lookup to use: the
sweep's ``ctx.dns`` with the inventory's resolver, so every SPF question is asked
once per sweep, counted, and never goes to ``/etc/resolv.conf``. pyspf enforces the
10-term DNS limit and the void-lookup limit (PermError) and detects two records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from readiness.net.dns import ERROR_OUTCOMES, Answer

__all__ = ["Lookup", "SpfOutcome", "evaluate"]

# (name, record type) -> the sweep's answer
Lookup = Callable[[str, str], Answer]

_local = threading.local()
_installed = threading.Lock()


@dataclass(frozen=True)
class SpfOutcome:
    result: str  # pass fail softfail neutral none permerror temperror
    explanation: str
    lookups: int  # DNS-querying terms counted by the evaluator


def _dispatch(name: str, qtype: str, strict: Any = True, timeout: float = 20) -> list[Any]:
    """pyspf's DNSLookup: ``[((name, type), value), ...]``; raises spf.TempError when
    the resolver could not answer."""
    import spf

    lookup: Lookup | None = getattr(_local, "lookup", None)
    if lookup is None:
        raise spf.TempError("DNS: no resolver given to the SPF evaluation")
    answer = lookup(name, qtype)
    if answer.outcome in ERROR_OUTCOMES:
        raise spf.TempError(f"DNS {answer.describe()}")
    return [((name, qtype), value) for value in _values(answer, qtype)]


def _values(answer: Answer, qtype: str) -> Iterator[Any]:
    for value in answer.values:
        if qtype in ("TXT", "SPF"):
            yield [value.encode("utf-8")]
        elif qtype == "MX":
            preference, _, exchange = value.partition(" ")
            yield (int(preference), exchange.rstrip("."))
        elif qtype in ("PTR", "CNAME"):
            yield value.rstrip(".")
        else:
            yield value


def _install() -> None:
    import spf

    with _installed:
        if spf.DNSLookup is not _dispatch:
            spf.DNSLookup = _dispatch


def evaluate(domain: str, address: str, helo: str, lookup: Lookup, timeout: float) -> SpfOutcome:
    """The SPF result for mail from ``postmaster@domain`` sent by ``address``."""
    import spf

    _install()
    _local.lookup = lookup
    try:
        query = spf.query(i=address, s=f"postmaster@{domain}", h=helo, timeout=timeout, querytime=0)
        result, _code, explanation = query.check()
    finally:
        _local.lookup = None
    return SpfOutcome(str(result), str(explanation), int(query.lookups))

"""pytest fixtures that bring the lab up once and down at the end, by PID.

Use from a conftest.py::

    from readiness_lab.pytest_fixtures import lab  # noqa: F401  (session-scoped)

    def test_something(lab):            # lab: LabHandle
        lab.inventory, lab.secrets_dir, lab.plan, lab.estate, lab.state
        lab.slot.dns, lab.estate.hosts()    # its addresses: never hard-code 127.77.x

or, for a lab that lives only as long as one package's tests::

    from readiness_lab.pytest_fixtures import make_lab_fixture
    lab = make_lab_fixture("package")

Each test session's lab takes a free slot (``lab up --slot auto``: its own
127.N.x / 10.N.x addresses and rlN-* namespaces, lab/slot.py), so several test runs
and hand-started labs share the machine. Within a session every fixture made here
shares one process-wide lab (starting one takes seconds): the first one to ask
starts it, the one that started it stops it, the others reuse it.

Environment:

* ``READINESS_LAB_STAFF`` / ``READINESS_LAB_SEED``: size and seed (default 150 / 1);
* ``READINESS_LAB_SLOT=N``: that slot instead of a free one;
* ``READINESS_LAB_NO_SAMBA=1``: without the Samba AD DC;
* ``READINESS_LAB_STATE=DIR``: use a lab already brought up with ``lab up --state DIR``
  (never stopped by the tests).

A component that cannot start fails the requesting test loudly (never a skip): the
lab is brought down again and the error names the component and its log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from .estate import DEFAULT_SEED, DEFAULT_STAFF, Estate, generate
from .faults import FaultPlan, load, with_faults
from .process import LabError
from .slot import Slot
from .up import LabReport, UpOptions, down, slot_of, up

__all__ = ["LabHandle", "lab", "make_lab_fixture", "start_lab", "stop_lab"]


@dataclass
class LabHandle:
    """What a test needs to use the running lab."""

    state: Path
    estate: Estate
    plan: FaultPlan  # the ground truth of injected faults
    options: UpOptions
    report: LabReport | None  # None when the lab was started outside the tests

    @property
    def slot(self) -> Slot:
        return self.estate.slot

    @property
    def inventory(self) -> Path:
        return self.state / "inventory"

    @property
    def secrets_dir(self) -> Path:
        return self.state / "secrets"

    @property
    def ca_bundle(self) -> Path:
        return self.state / "ca" / "ca.pem"

    @property
    def facts(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.state / "lab-facts.json").read_text())
        return data


_current: LabHandle | None = None
Scope = Literal["session", "package", "module", "class", "function"]


def _options(state: Path) -> UpOptions:
    slot = os.environ.get("READINESS_LAB_SLOT", "auto")
    return UpOptions(
        staff=int(os.environ.get("READINESS_LAB_STAFF", DEFAULT_STAFF)),
        seed=int(os.environ.get("READINESS_LAB_SEED", DEFAULT_SEED)),
        state=state,
        samba=os.environ.get("READINESS_LAB_NO_SAMBA", "") not in ("1", "true", "yes"),
        slot=None if slot == "auto" else int(slot),
    )


def start_lab(state: Path, opts: UpOptions | None = None) -> LabHandle:
    """Bring the lab up in ``state`` (options from the environment unless given); raise
    pytest's failure if its slot is taken or a component fails."""
    opts = opts or _options(state)
    lines: list[str] = []
    try:
        report = up(opts, lines.append)
    except LabError as exc:
        pytest.fail(f"the lab could not start: {exc}", pytrace=False)
    if not report.ok:
        with_errors = "\n".join(lines)
        down(opts.state)
        pytest.fail(f"the lab could not start:\n{with_errors}", pytrace=False)
    opts.slot = report.slot  # brought up again (after a `down`), it keeps its addresses
    plan = load(report.state)
    estate = with_faults(generate(opts.staff, opts.seed, Slot(report.slot)), plan)
    return LabHandle(report.state, estate, plan, opts, report)


def stop_lab(handle: LabHandle) -> None:
    down(handle.state)


def _external() -> LabHandle | None:
    state = os.environ.get("READINESS_LAB_STATE")
    if not state:
        return None
    path = Path(state).resolve()
    lab_json = path / "lab.json"
    if not lab_json.exists():
        pytest.fail(
            f"READINESS_LAB_STATE={state}: no lab there (run `readiness lab up "
            f"--state {state}` first)",
            pytrace=False,
        )
    info = json.loads(lab_json.read_text())
    slot = slot_of(path)
    opts = UpOptions(staff=info["staff"], seed=info["seed"], state=path, slot=slot.number)
    plan = load(path)
    return LabHandle(
        path, with_faults(generate(opts.staff, opts.seed, slot), plan), plan, opts, None
    )


def make_lab_fixture(scope: Scope = "session") -> Callable[..., Any]:
    """A ``lab`` fixture of the given pytest scope (sharing the one process-wide lab)."""

    @pytest.fixture(scope=scope)
    def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
        global _current
        if _current is not None:
            yield _current
            return
        external = _external()
        if external is not None:
            _current = external
            try:
                yield external
            finally:
                _current = None
            return
        handle = start_lab(tmp_path_factory.mktemp("lab"))
        _current = handle
        try:
            yield handle
        finally:
            _current = None
            stop_lab(handle)

    return lab


lab = make_lab_fixture("session")

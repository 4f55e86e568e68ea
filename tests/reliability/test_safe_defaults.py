"""Safe by default, proven: every field that turns a safety check off (TLS verification,
SSH host keys, cleartext LDAP binds) is marked, defaults to safe, and when an inventory
sets it, every report says so; the state folder, history, ledger and reports are
owner-only. (Refusals against real servers: a wrong or unknown SSH host key in
tests/checks/test_network_ssh.py, cleartext binds in tests/identity/test_identity_slapd.py.)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel

from readiness.cli import main
from readiness.history import History
from readiness.inventory import load
from readiness.inventory.models import VantagePoint
from readiness.inventory.optouts import opt_outs
from readiness.ledger import AttemptLedger
from readiness.registry import load_families
from readiness.reports import RenderOptions, renderer, write

from ..reports.synthetic import make_record

EXAMPLE = Path(__file__).parents[2] / "inventories" / "example"
SAFETY_WORDS = ("verify", "insecure", "cleartext")


def _models() -> list[type[BaseModel]]:
    families = load_families()
    models: list[type[BaseModel]] = [VantagePoint]
    for fam in families:
        models += list(fam.sections.values()) + list(fam.blocks.values())
    seen: list[type[BaseModel]] = []
    while models:  # and every model nested in them
        model = models.pop()
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    models.append(arg)
    return seen


def test_every_safety_switch_is_marked_and_safe_by_default() -> None:
    switches = {}
    for model in _models():
        for name, info in model.model_fields.items():
            if any(word in name for word in SAFETY_WORDS):
                extra = info.json_schema_extra
                assert isinstance(extra, dict) and extra.get("opt_out"), (
                    f"{model.__name__}.{name} turns a safety check off but is not marked OPT_OUT"
                )
                switches[f"{model.__name__}.{name}"] = info.default
    assert len(switches) >= 6
    for where, default in switches.items():
        safe = ("insecure" not in where and "cleartext" not in where) is default
        assert safe, f"{where} defaults to {default}: unsafe"


@pytest.fixture
def opted_out(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    apps = inventory / "applications.yaml"
    apps.write_text(
        apps.read_text("utf-8").replace(
            "      path: /health\n", "      path: /health\n      verify_tls: false\n", 1
        ),
        "utf-8",
    )
    return inventory


def test_an_opt_out_is_in_every_report(opted_out: Path, tmp_path: Path) -> None:
    found = opt_outs(load(opted_out, load_families()))
    assert found == ("applications.housing.http.verify_tls: false",)
    assert opt_outs(load(EXAMPLE, load_families())) == ()
    record = make_record(opted_out)
    record = dataclasses.replace(record, meta=dataclasses.replace(record.meta, opt_outs=found))
    for name in ("console", "md", "html", "junit", "json"):
        text = renderer(name).render(record, RenderOptions())
        assert "applications.housing.http.verify_tls" in text, name
    data = json.loads(renderer("json").render(record, RenderOptions()))
    assert data["inventory"]["opt_outs"] == list(found)
    assert type(record).from_json(data).meta.opt_outs == found


def _private(path: Path, mode: int) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == mode, f"{path}: {oct(path.stat().st_mode)}"


def test_state_history_ledger_and_reports_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with AttemptLedger(state / "ledger.sqlite"):
        pass
    _private(state, 0o700)
    with History.of(state) as history:
        history.add(make_record(EXAMPLE))
    for path in state.iterdir():  # the databases, their -wal and -shm files
        _private(path, 0o600)
    report = write("x", tmp_path / "reports" / "report.md")
    _private(report, 0o600)
    _private(report.parent, 0o700)
    out = tmp_path / "out"
    assert main(["report", "--state-dir", str(state), "--format", "json",
                 "--out", str(out / "r.json")]) == 0  # fmt: skip
    _private(out, 0o700)
    _private(out / "r.json", 0o600)

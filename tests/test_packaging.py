"""Packaging: every package folder is found without a packaging edit (the renamed checks/
and lab/ folders included), every family and renderer is registered through the entry
points, and the console script exists."""

from __future__ import annotations

import runpy
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).parent.parent
FOLDERS = {"readiness": "readiness", "readiness_checks": "checks", "readiness_lab": "lab"}


def test_every_package_folder_is_found() -> None:
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="discover")
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert set(setup["packages"]()) == found
    assert setup["FOLDERS"] == FOLDERS


def test_entry_points_are_the_one_door() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"]["scripts"]["readiness"] == "readiness.cli:main"
    declared = config["project"]["entry-points"]
    for group in ("readiness.families", "readiness.renderers", "readiness.commands"):
        installed = {ep.name: ep.value for ep in entry_points(group=group)}
        assert declared[group].items() <= installed.items(), group
    # Every module of checks/ is a registered family (or a helper package of one).
    modules = {p.stem for p in (ROOT / "checks").glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in (ROOT / "checks").glob("*/__init__.py")}
    registered = {
        v.split(":")[0].removeprefix("readiness_checks.")
        for v in declared["readiness.families"].values()
    }
    assert modules | packages == registered

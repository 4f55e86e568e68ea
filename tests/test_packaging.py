"""Packaging: every package folder is listed in pyproject.toml (the renamed checks/ and
lab/ folders cannot be found automatically), and the console script exists."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
FOLDERS = {"readiness": "readiness", "readiness_checks": "checks", "readiness_lab": "lab"}


def test_every_package_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert found == listed
    assert config["project"]["scripts"]["readiness"] == "readiness.cli:main"

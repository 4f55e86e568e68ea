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


def test_the_licence_is_an_spdx_expression() -> None:
    """The table form (``license = {text = ...}``) makes setuptools print a deprecation
    warning on every install."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(config["project"]["license"], str)


def test_setup_installs_the_project_again_only_when_its_packaging_changed(
    tmp_path: Path,
) -> None:
    """scripts/venv (run by scripts/setup, scripts/check and so the README's demo): a
    second run installs and upgrades nothing, and says nothing. A stand-in .venv
    records what would have run."""
    import shutil
    import subprocess

    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py", "scripts/venv"):
        shutil.copy(ROOT / name, tree / name)
    bin_dir = tree / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$PYTHONWARNINGS $*" >> {log}\n')
    (bin_dir / "readiness").write_text("#!/bin/sh\necho readiness 0\n")
    for stand_in in bin_dir.iterdir():
        stand_in.chmod(0o755)

    def run() -> str:
        proc = subprocess.run(
            ["bash", str(tree / "scripts" / "venv")], capture_output=True, text=True, check=True
        )
        return proc.stdout + proc.stderr

    assert "installing the project" in run()
    assert log.read_text().splitlines() == ["ignore -m pip install -q -e .[dev]"]
    assert run() == ""  # the second run: nothing installed, upgraded or printed
    assert len(log.read_text().splitlines()) == 1
    with (tree / "pyproject.toml").open("a") as fh:
        fh.write("\n# a new dependency, say\n")
    run()
    assert len(log.read_text().splitlines()) == 2

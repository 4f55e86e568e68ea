"""The pre-flight: ``validate`` and ``sweep --dry-run`` (and every sweep) check every
secret reference, CA bundle and known_hosts file the inventory names, the core's and the
families' alike, and name each one that cannot be read with the inventory's file:line
(exit 2) instead of letting a sweep discover it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from readiness.cli import main

INVENTORY = """\
programme: {name: Pre-flight, go_live: 2027-01-04}
organisations:
  north: {name: North, ca_bundle: missing.pem}
  south: {name: South, ca_bundle: garbage.pem}
sites:
  north-hq: {organisation: north, vantage_points: [jump]}
  south-hq: {organisation: south}
vantage_points:
  jump:
    kind: ssh
    host: jump.north.test
    user: readiness
    key: file:jump.key
    known_hosts: hosts-dir
roles: {clerk: {}}
directories:
  north-ldap:
    kind: openldap
    url: ldaps://ldap.north.test
    base_dn: dc=north,dc=test
    bind_dn: cn=readiness,dc=north,dc=test
    bind_password: file:north.secret
    ca_bundle: also-missing.pem
staff:
  - id: N1
    organisation: north
    site: north-hq
    pilot: true
    credential: env:READINESS_TEST_UNSET
  - id: N2
    organisation: north
    site: north-hq
    pilot: true
    credential: file:empty.pw
"""


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("READINESS_TEST_UNSET", raising=False)
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    (folder / "garbage.pem").write_text("not a certificate\n")
    (folder / "hosts-dir").mkdir()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "north.secret").write_text("s3cret\n")
    (secrets / "empty.pw").write_text("")
    return folder


EXPECTED = [
    (
        "inventory.yaml:3",
        "organisations.north: ca_bundle: the CA bundle",
        "missing.pem does not exist",
    ),
    ("inventory.yaml:4", "organisations.south: ca_bundle: the CA bundle", "holds no usable PEM"),
    (
        "inventory.yaml:13",
        "vantage_points.jump: key: cannot read secret file",
        "jump.key: file not found",
    ),
    (
        "inventory.yaml:14",
        "vantage_points.jump: known_hosts: the known_hosts file",
        "is not a file",
    ),
    (
        "inventory.yaml:23",
        "directories.north-ldap: ca_bundle: the CA bundle",  # a family's own section
        "also-missing.pem does not exist",
    ),
    (
        "inventory.yaml:29",
        "staff N1 (inventory.yaml:25): credential: environment variable READINESS_TEST_UNSET",
        "is not set",
    ),
    (
        "inventory.yaml:34",
        "staff N2 (inventory.yaml:30): credential: the secret file:empty.pw",
        "empty",
    ),
]


def _check(err: str, folder: Path) -> None:
    lines = [ln for ln in err.splitlines() if not ln.startswith(("    hint:", "readiness:"))]
    assert len(lines) == len(EXPECTED), err
    for line, (where, start, end) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"{folder / where}: {start}"), line
        assert line.endswith(end) or end in line, line
    assert "s3cret" not in err
    assert "readiness: 7 of the 8 secrets and files the inventory names cannot be read" in err


def test_validate_names_every_unreadable_reference(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = inventory.parent / "secrets"
    assert main(["validate", str(inventory), "--secrets-dir", str(secrets)]) == 2
    _check(capsys.readouterr().err, inventory)


def test_a_dry_run_checks_them_too_before_planning(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = inventory.parent / "secrets"
    assert main(["sweep", str(inventory), "--dry-run", "--secrets-dir", str(secrets)]) == 2
    captured = capsys.readouterr()
    _check(captured.err, inventory)
    assert "Plan:" not in captured.out


def test_relative_secrets_resolve_in_the_secrets_folder(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --secrets-dir they resolve in the inventory folder, and the hint says so."""
    assert main(["validate", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read secret file {inventory / 'north.secret'}" in err
    assert f"relative file: references resolve in {inventory})" in err


def test_a_sound_inventory_passes_and_no_preflight_skips_it(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(inventory), "--no-preflight"]) == 0
    assert "valid." in capsys.readouterr().out


def test_keyring_references_are_looked_up(tmp_path: Path) -> None:
    """A server has no desktop keyring: keyrings.alt's file backend stands in, for real."""
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(
        textwrap.dedent("""\
        programme: {name: Keyring, go_live: 2027-01-04}
        organisations: {north: {name: North}}
        sites: {north-hq: {organisation: north}}
        staff:
          - {id: N1, organisation: north, site: north-hq, pilot: true,
             credential: "keyring:readiness-test/present"}
          - {id: N2, organisation: north, site: north-hq, pilot: true,
             credential: "keyring:readiness-test/absent"}
        """),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path),
        "HOME": str(tmp_path),
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import keyring; keyring.set_password('readiness-test', 'present', 'kr-s3cret')",
        ],
        env=env,
        check=True,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "validate", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{folder / 'inventory.yaml'}:8: staff N2 (inventory.yaml:7): credential: no " in (
        proc.stderr
    )
    assert "no keyring entry for readiness-test/absent" in proc.stderr
    assert "readiness-test/present" not in proc.stderr
    assert "kr-s3cret" not in proc.stderr

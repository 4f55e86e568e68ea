"""The sweep's own problems come first, against real directories: a service account whose
password is wrong leaves a whole directory's people unjudged, and the summary says so
before one person's disabled account ("the sweep could not judge 5 staff: ... could not
bind"), results.json ranks it first, and the last line counts the people not judged. A
CA bundle that disappears after the pre-flight is the sweep's configuration, never "a
defect in the identity family"."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import pytest

from readiness.cli import main
from readiness.results import Origin, Status

from .conftest import GO_LIVE, IdentityLab, load_inventory, sweep

pytestmark = pytest.mark.integration

SOUTH = ["southie", "jsmith", "sam.south", "sue.south", "syd.south"]


def _inventory(lab: IdentityLab, folder: Path, *, south_secret: str, ca: str) -> Path:
    folder.mkdir()
    (folder / "north.secret").write_text(lab.north.service_password_file.read_text())
    (folder / "wrong.secret").write_text("not-the-password\n")
    for secret in folder.glob("*.secret"):
        secret.chmod(0o600)

    def directory(org: str, host: str, dn: str, base: str, secret: str) -> str:
        return textwrap.indent(
            textwrap.dedent(f"""\
            kind: openldap
            organisations: [{org}]
            url: ldap://{host}:389
            start_tls: true
            base_dn: {base}
            people_base: ou=people,{base}
            groups_base: ou=groups,{base}
            policies_base: ou=policies,{base}
            bind_dn: {dn}
            bind_password: file:{secret}
            ca_bundle: {ca}
            owner: {org.title()} identity team
            timeout: 3
            """),
            "    ",
        )

    people = [("healthy", "north"), ("disabled", "north")] + [(u, "south") for u in SOUTH]
    staff = "".join(
        f"  - {{id: {uid.replace('.', '-')}, organisation: {org}, site: {org}-hq, "
        f"roles: [clerk], username: {uid}}}\n"
        for uid, org in people
    )
    (folder / "inventory.yaml").write_text(
        f"programme: {{name: Sweep problems, go_live: {GO_LIVE.isoformat()}}}\n"
        "organisations: {north: {name: Northvale}, south: {name: Southmere}}\n"
        "sites: {north-hq: {organisation: north}, south-hq: {organisation: south}}\n"
        "roles: {clerk: {}}\n"
        "directories:\n"
        "  north-ldap:\n"
        + directory(
            "north",
            lab.hosts.north,
            lab.north.service_dn,
            "dc=northvale,dc=test",
            "north.secret",
        )
        + "  south-ldap:\n"
        + directory(
            "south",
            lab.hosts.south,
            lab.south.service_dn,
            "dc=southmere,dc=test",
            south_secret,
        )
        + "staff:\n"
        + staff,
        encoding="utf-8",
    )
    return folder


def test_a_service_account_that_cannot_bind_comes_first(
    identity_lab: IdentityLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _inventory(
        identity_lab,
        tmp_path / "inventory",
        south_secret="wrong.secret",
        ca=str(identity_lab.ca.cert_path),
    )
    out = tmp_path / "out"
    code = main(
        [
            "sweep",
            str(folder),
            "--family",
            "identity",
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "state"),
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert code == 1, text  # the disabled account failed
    assert "The sweep's own problems come first" in text, text
    own = text.index("The sweep's own problems come first")
    assert own < text.index("Blockers in the estate")
    # The service account refused is a fail of the sweep's own access (subject
    # family:identity), grouped with the people it leaves unknown: one problem, first.
    assert (
        "FAIL its configuration: the sweep could not judge 5 staff (identity.service-bind" in text
    )
    first = text[own:].splitlines()
    assert "could not bind" in first[2] and "invalidCredentials" in first[2]
    assert "not-the-password" not in text
    assert "Exit code 1: something failed; the sweep could not judge 5 of 7 staff" in text
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    first_blocker = data["blockers"][0]
    assert first_blocker["root_cause"] == "identity.directory|south-ldap|service-bind"
    assert first_blocker["origin"] == "config" and first_blocker["people"] == 5
    assert data["blockers"][1]["origin"] == "estate"  # the disabled account
    rows = {
        row["subject"]: row
        for row in csv.DictReader(io.StringIO((out / "staff.csv").read_text(encoding="utf-8-sig")))
    }
    south = rows["staff:south/southie"]
    assert south["verdict"] == "unknown" and "could not read directory south-ldap" in south["why"]
    # For the service desk: what is wrong in words, the raw evidence in results.json.
    disabled = rows["staff:north/disabled"]
    assert disabled["why"] == "fail: the account is disabled (in north-ldap)"
    assert disabled["owner"] == "North identity team" and disabled["fix"]
    raw = next(
        r
        for r in data["results"]
        if r["subject"] == "staff:north/disabled" and r["status"] == "fail"
    )
    assert "pwdAccountLockedTime" in raw["summary"] and "pwdAccountLockedTime" in raw["observed"]


def test_a_ca_bundle_gone_after_the_preflight_is_the_sweeps_configuration(
    identity_lab: IdentityLab, tmp_path: Path
) -> None:
    folder = _inventory(
        identity_lab, tmp_path / "inventory", south_secret="north.secret", ca="gone.pem"
    )
    results = sweep(load_inventory(folder), tmp_path / "state")
    errors = [r for r in results if r.status is Status.ERROR]
    # The people, the directories' TLS services and the sweep's own access: all the
    # sweep's configuration, none of them the directory's fault.
    assert {r.subject.split("/")[0] for r in errors} == {
        "staff:north",
        "staff:south",
        "directories:north-ldap",
        "directories:south-ldap",
        "family:identity",
    }
    for r in errors:
        assert r.root_cause.endswith("|ca-bundle")
        assert r.origin == Origin.CONFIG
        assert "gone.pem" in r.summary and "does not exist" in r.summary
        assert "defect" not in f"{r.summary} {r.hint}"

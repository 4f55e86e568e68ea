"""The directory services' own faults against real servers (the lab's healthy services
are in test_estates_lab.py): a slapd without TLS refuses StartTLS and offers no LDAPS,
a KDC that is not there, and the service checks run from the sites' jump hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness.family import Probe
from readiness.inventory import load
from readiness.registry import load_families
from readiness.results import Status
from readiness_checks.identity.config import Directory
from readiness_checks.identity.family import InDirectory
from readiness_checks.identity.services import DirectoryServices
from readiness_lab.pytest_fixtures import LabHandle
from readiness_lab.slapd import SlapdInfo

from .conftest import IdentityLab, extra_slapd, run_context
from .test_estates_lab import copy_inventory, edit, sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plain(identity_lab: IdentityLab) -> Iterator[SlapdInfo]:
    """A slapd without a certificate: no StartTLS, no LDAPS listener."""
    with extra_slapd(identity_lab, "plainfield", 30, tls=False) as info:
        yield info


def _services(identity_lab: IdentityLab, info: SlapdInfo, tmp_path: Path) -> DirectoryServices:
    (tmp_path / "s.secret").write_text("x")
    (tmp_path / "inventory.yaml").write_text(
        "programme: {name: t, go_live: 2027-01-04}\n"
        "organisations: {north: {name: North}}\n"
        "directories:\n"
        "  plain-ldap:\n"
        "    kind: openldap\n"
        f"    url: ldap://{info.host}:389\n"
        "    allow_cleartext_bind: true\n"
        f"    base_dn: {info.base_dn}\n"
        f"    bind_dn: {info.service_dn}\n"
        "    bind_password: file:s.secret\n"
        f"    ca_bundle: {identity_lab.ca.cert_path}\n"
        "    owner: Plainfield IT\n"
        "    timeout: 3\n",
        encoding="utf-8",
    )
    inventory = load(tmp_path, load_families())
    ctx = run_context(inventory, tmp_path, tmp_path)
    directory = inventory.section("directories", Directory)["plain-ldap"]
    return DirectoryServices("plain-ldap", directory, ctx)


PROBE = Probe(
    "identity",
    "identity.srv",
    "directories:plain-ldap",
    "directories:plain-ldap",
    InDirectory("plain-ldap"),
    also=("identity.kdc", "tls.handshake"),
)


def test_no_starttls_and_no_ldaps_are_reported(
    identity_lab: IdentityLab, plain: SlapdInfo, tmp_path: Path
) -> None:
    services = _services(identity_lab, plain, tmp_path)
    try:
        found = {(r.check, r.target): r for r in services.run(PROBE, [])}
    finally:
        services.ctx.close()
    starttls = found[("tls.handshake", f"ldap://{plain.host}:389 (StartTLS)")]
    assert starttls.status == Status.FAIL, starttls  # the server answered: no
    assert "StartTLS refused: LDAP result" in starttls.summary
    assert starttls.owner == "Plainfield IT" and starttls.impact and starttls.hint
    ldaps = found[("tls.handshake", f"ldaps://{plain.host}:636")]
    assert ldaps.status == Status.ERROR and "refused" in ldaps.summary, ldaps
    others = [r for (check, _), r in found.items() if check != "tls.handshake"]
    assert others and {r.status for r in others} == {Status.SKIP}


def test_a_kdc_that_does_not_answer_fails(
    identity_lab: IdentityLab, plain: SlapdInfo, tmp_path: Path
) -> None:
    services = _services(identity_lab, plain, tmp_path)
    try:
        refused = services._kdc(PROBE, identity_lab.hosts.dead, 88, [])
    finally:
        services.ctx.close()
    assert refused.status == Status.FAIL and refused.observed == "connection refused"
    assert refused.root_cause == f"identity.kdc|{identity_lab.hosts.dead}:88|refused"


@pytest.mark.lab
def test_service_checks_run_from_the_sites_when_asked(lab: LabHandle, tmp_path: Path) -> None:
    """checked_from: sites, as for the core's service objects: each site's vantage point
    (an SSH jump host: TLS and SRV over its channels), through the site's resolvers."""
    folder = copy_inventory(lab, tmp_path / "inventory")
    edit(
        folder,
        "directories.yaml",
        "    owner: Shared service identity team\n",
        "    owner: Shared service identity team\n    checked_from: sites\n",
    )
    results = sweep(folder, lab, tmp_path / "state").results
    shared = [r for r in results if r.subject == "directories:shared-ad"]
    vantages = {r.vantage for r in shared}
    assert {"north-hq-jump", "south-hq-jump", "local"} <= vantages
    assert all(r.status == Status.PASS for r in shared), [r for r in shared if r.status != "pass"]
    from_north = [r for r in shared if r.vantage == "north-hq-jump"]
    assert from_north and all(r.sites == ("north-hq",) for r in from_north)
    srv = [r for r in from_north if r.check == "identity.srv"]
    assert srv and all(lab.slot.dns_site in r.target for r in srv)  # the site's resolver

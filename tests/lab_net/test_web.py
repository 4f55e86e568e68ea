"""nginx serving the shared applications, checked with curl and openssl s_client:
health, basic auth for pilots, the SSO redirect, and each fault (expired certificate,
certificate for the wrong name, 503), switched on a running server too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from readiness_lab import web
from readiness_lab.ca import LabCA
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot

from .tools import all_gone, sh

pytestmark = pytest.mark.integration

PILOT_USER = "pilot1"
PILOT_PASSWORD = "correct horse 1"  # a test password, never a real secret
IDP = "https://login.valeshared.test/sso?app=housing"


@dataclass
class Web:
    sup: Supervisor
    ca: LabCA
    spec: web.WebSpec


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA, net_slot: Slot) -> Iterator[Web]:
    sup = Supervisor(tmp_path_factory.mktemp("web"))
    spec = web.WebSpec(
        [
            web.App(
                "housing",
                "housing.valeshared.test",
                "Housing Management",
                pilot_auth=True,
                sso_redirect=IDP,
            ),
            web.App("payroll", "payroll.valeshared.test", fault="expired"),
            web.App("planning", "planning.valeshared.test", fault="wrong-name"),
            web.App("waste", "waste.valeshared.test", fault="503"),
        ],
        {PILOT_USER: PILOT_PASSWORD, "pilot2": "another one"},
        address=net_slot.web,
    )
    web.start(spec, sup, lab_ca)
    try:
        yield Web(sup, lab_ca, spec)
    finally:
        web.stop(sup)


def curl(w: Web, host: str, path: str, *extra: str, config: str = "") -> tuple[int, str, str]:
    """(curl exit code, "HTTP_CODE REDIRECT", stderr); TLS verified against the lab CA."""
    r = sh(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--max-time",
            "10",
            "--cacert",
            str(w.ca.cert_path),
            "--resolve",
            f"{host}:443:{w.spec.address}",
            "-K",
            "-",
            *extra,
            f"https://{host}{path}",
        ],
        input=config,
    )
    return r.returncode, r.stdout.strip(), r.stderr


def s_client(w: Web, host: str) -> str:
    r = sh(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{w.spec.address}:443",
            "-servername",
            host,
            "-verify_hostname",
            host,
            "-CAfile",
            str(w.ca.cert_path),
            "-brief",
        ],
        input="",
        timeout=15,
    )
    return r.stdout + r.stderr


def test_health_and_home(nginx: Web) -> None:
    assert curl(nginx, "housing.valeshared.test", "/health")[:2] == (0, "200")
    body = sh(
        [
            "curl",
            "-sS",
            "--cacert",
            str(nginx.ca.cert_path),
            "--resolve",
            f"housing.valeshared.test:443:{nginx.spec.address}",
            "https://housing.valeshared.test/",
        ]
    )
    assert body.stdout == "Housing Management\n"
    assert "Verification: OK" in s_client(nginx, "housing.valeshared.test")


def test_pilot_basic_auth(nginx: Web) -> None:
    host = "housing.valeshared.test"
    assert curl(nginx, host, "/pilot/")[1] == "401"
    # Credentials go through curl's stdin config, never on a command line.
    assert curl(nginx, host, "/pilot/", config=f'user = "{PILOT_USER}:wrong"\n')[1] == "401"
    ok = curl(nginx, host, "/pilot/", config=f'user = "{PILOT_USER}:{PILOT_PASSWORD}"\n')
    assert ok[:2] == (0, "200")
    htpasswd = (nginx.sup.state_dir / "nginx" / "htpasswd").read_text()
    assert PILOT_PASSWORD not in htpasswd and htpasswd.startswith("pilot1:$5$")


def test_sso_login_redirect(nginx: Web) -> None:
    assert curl(nginx, "housing.valeshared.test", "/login")[1] == f"302 {IDP}"


def test_expired_certificate(nginx: Web) -> None:
    code, _, err = curl(nginx, "payroll.valeshared.test", "/health")
    assert code == 60 and "certificate has expired" in err
    assert "certificate has expired" in s_client(nginx, "payroll.valeshared.test")


def test_certificate_for_the_wrong_name(nginx: Web) -> None:
    code, _, err = curl(nginx, "planning.valeshared.test", "/health")
    assert code == 60 and "no alternative certificate subject name matches" in err
    out = s_client(nginx, "planning.valeshared.test")
    assert "hostname mismatch" in out
    # The chain itself is fine: the certificate names another host.
    assert (
        web.WRONG_NAME
        in sh(
            [
                "openssl",
                "x509",
                "-noout",
                "-ext",
                "subjectAltName",
                "-in",
                str(nginx.ca.dir / "web-planning-wrong-name.pem"),
            ]
        ).stdout
    )


def test_application_answering_503(nginx: Web) -> None:
    assert curl(nginx, "waste.valeshared.test", "/health")[:2] == (0, "503")
    assert curl(nginx, "waste.valeshared.test", "/")[1] == "503"


def test_unknown_name_is_refused_at_handshake(nginx: Web) -> None:
    code, _, err = curl(nginx, "unknown.valeshared.test", "/health")
    assert code == 35 and "unrecognized name" in err


def test_fault_switch_on_a_running_server(nginx: Web) -> None:
    spec = web.set_fault(nginx.spec, "waste", None, nginx.sup, nginx.ca)
    try:
        assert _eventually(lambda: curl(nginx, "waste.valeshared.test", "/health")[1] == "200")
        spec = web.set_fault(spec, "housing", "expired", nginx.sup, nginx.ca)
        assert _eventually(lambda: curl(nginx, "housing.valeshared.test", "/health")[0] == 60)
    finally:
        nginx.spec = web.set_fault(
            web.set_fault(spec, "housing", None, nginx.sup, nginx.ca),
            "waste",
            "503",
            nginx.sup,
            nginx.ca,
        )


def test_stop_leaves_no_process(
    tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA, net_slot: Slot
) -> None:
    sup = Supervisor(tmp_path_factory.mktemp("web-stop"))
    web.start(
        web.WebSpec([web.App("a", "a.valeshared.test")], address=net_slot.host(4, 11)), sup, lab_ca
    )
    master = sup.processes()[0].pid
    workers = [int(p) for p in sh(["pgrep", "-P", str(master)]).stdout.split()]
    assert workers
    assert web.stop(sup) == ["nginx"]
    assert all_gone([master, *workers])


def _eventually(check: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False

"""Postfix for the shared domain, checked with swaks and openssl s_client: 250 only for
known mailboxes at RCPT (old-domain addresses where coexistence is configured), 550
otherwise, the rejected-mailbox fault, STARTTLS with the lab CA, no outbound delivery,
and stop by PID."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from readiness_lab import mail
from readiness_lab.ca import LabCA
from readiness_lab.process import Supervisor
from readiness_lab.slot import Slot

from .tools import all_gone, sh

pytestmark = pytest.mark.integration

KNOWN = "aoife.nibhriain@valeshared.test"
REJECTED = "rory.quinn@valeshared.test"
OLD = "a.nibhriain@northvale.test"


@dataclass
class Mail:
    sup: Supervisor
    ca: LabCA
    spec: mail.MailSpec
    lab: mail.MailLab


@pytest.fixture(scope="module")
def postfix(
    tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA, net_slot: Slot
) -> Iterator[Mail]:
    sup = Supervisor(tmp_path_factory.mktemp("mail"))
    spec = mail.MailSpec(
        [KNOWN, REJECTED, OLD, "Mixed.Case@valeshared.test"],
        ["valeshared.test", "northvale.test"],
        rejected=[REJECTED],
        address=net_slot.mail,
    )
    lab = mail.start(spec, sup, lab_ca)
    try:
        yield Mail(sup, lab_ca, spec, lab)
    finally:
        mail.stop(sup)


def rcpt(m: Mail, *recipients: str, tls: bool = True) -> tuple[int, str]:
    """swaks up to RCPT only (nothing is ever sent); (exit code, transcript)."""
    argv = [
        "swaks",
        "--server",
        f"{m.spec.address}:25",
        "--from",
        "probe@valeshared.test",
        "--helo",
        "probe.valeshared.test",
        "--quit-after",
        "RCPT",
        "--timeout",
        "10",
        "--to",
        ",".join(recipients),
    ]
    if tls:
        argv += ["--tls", "--tls-verify", "--tls-ca-path", str(m.ca.cert_path)]
    r = sh(argv)
    return r.returncode, r.stdout + r.stderr


def test_known_mailbox_gets_250(postfix: Mail) -> None:
    code, out = rcpt(postfix, KNOWN)
    assert code == 0, out
    assert "<~  250 2.1.5 Ok" in out
    assert rcpt(postfix, "mixed.case@valeshared.test")[0] == 0  # addresses are case-blind


def test_unknown_mailbox_gets_550(postfix: Mail) -> None:
    code, out = rcpt(postfix, "nobody@valeshared.test")
    assert code == 24  # swaks: the server rejected every recipient
    assert "550 5.1.1 <nobody@valeshared.test>" in out


def test_rejected_mailbox_fault(postfix: Mail) -> None:
    code, out = rcpt(postfix, REJECTED)
    assert code == 24 and f"550 5.1.1 <{REJECTED}>" in out


def test_old_domain_in_coexistence_and_other_domains(postfix: Mail) -> None:
    assert rcpt(postfix, OLD)[0] == 0
    assert "550 5.1.1" in rcpt(postfix, "nobody@northvale.test")[1]
    code, out = rcpt(postfix, "someone@southmere.test")
    assert code == 24 and "550 5.7.1" in out  # not ours, and never relayed


def test_many_recipients_in_one_session(postfix: Mail) -> None:
    # in_flow_delay = 0 and error sleep 0: rejections do not slow the session down.
    recipients = [f"unknown{i}@valeshared.test" for i in range(30)] + [KNOWN]
    start = time.monotonic()
    code, out = rcpt(postfix, *recipients, tls=False)
    assert time.monotonic() - start < 5
    assert out.count("550 5.1.1") == 30 and "250 2.1.5" in out
    assert code == 0  # at least one recipient was accepted


def test_starttls_with_the_lab_ca(postfix: Mail) -> None:
    code, out = rcpt(postfix, KNOWN)
    assert code == 0 and "TLS started" in out
    r = sh(
        [
            "openssl",
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            f"{postfix.spec.address}:25",
            "-verify_hostname",
            "mail.valeshared.test",
            "-CAfile",
            str(postfix.ca.cert_path),
            "-brief",
        ],
        input="QUIT\r\n",
        timeout=15,
    )
    assert "Verification: OK" in r.stdout + r.stderr


def test_nothing_can_leave(postfix: Mail) -> None:
    conf = str(postfix.lab.config_dir)
    for param in ("default_transport", "relay_transport", "local_transport"):
        value = sh(["postconf", "-c", conf, "-h", param]).stdout
        assert value.startswith("error:"), (param, value)
    assert sh(["postconf", "-c", conf, "-h", "smtp_dns_support_level"]).stdout.strip() == "disabled"


def test_fault_switch_on_a_running_server(postfix: Mail) -> None:
    mail.set_rejected(postfix.spec, [KNOWN], postfix.sup)
    try:
        assert rcpt(postfix, KNOWN)[0] == 24
        assert rcpt(postfix, REJECTED)[0] == 0
    finally:
        mail.set_rejected(postfix.spec, [REJECTED], postfix.sup)
    assert rcpt(postfix, KNOWN)[0] == 0


def test_stop_leaves_no_process(
    tmp_path_factory: pytest.TempPathFactory, lab_ca: LabCA, net_slot: Slot
) -> None:
    sup = Supervisor(tmp_path_factory.mktemp("mail-stop"))
    address = net_slot.host(5, 26)
    lab = mail.start(mail.MailSpec([KNOWN], address=address), sup, lab_ca)
    assert sup.processes()[0].pid == lab.master_pid
    pids = mail.instance_pids(lab.config_dir)
    assert lab.master_pid in pids and len(pids) > 1
    assert mail.stop(sup) == ["postfix"]
    assert all_gone(pids) and mail.instance_pids(lab.config_dir) == []
    assert f" {address}/" not in sh(["ip", "addr", "show", "lo"]).stdout

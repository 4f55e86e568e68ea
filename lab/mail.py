"""Postfix: the shared service's SMTP server (the lab's 127.N.5.25:25, STARTTLS).

Only known mailboxes get ``250`` at RCPT: the addresses of ``valeshared.test`` in
:class:`MailSpec` ``mailboxes`` (and the old-domain addresses listed there where
coexistence is configured, with their domain in ``domains``). Any other address
of those domains gets ``550 5.1.1`` (unknown user), and any other domain
``550 5.7.1`` (relay access denied). Fault "a mailbox the server rejects": list
the address in ``rejected`` (it is left out of the mailbox map, so it gets 550).

What a mail check must cope with, each a setting of :class:`MailSpec`: a catch-all
domain (``catch_all``: any address gets 250), greylisting (``deferred`` addresses get
``450 4.7.1``), a session dropped after N errors (``hard_error_limit``), a 421 at the
banner (``connection_limit``: the next session from the same client is refused), a
certificate for other names (``certificate_names``), a handshake clients refuse
(``tls_refused``: anonymous ciphers only, TLS 1.2 at most), no STARTTLS at all
(``starttls``), no pipelining (``pipelining``).

Postfix can send nothing anywhere: every transport is ``error:`` or ``discard:``,
no DNS lookups. It runs with its own config directory ``<state>/postfix/etc``
(``postfix -c DIR``; ``postfix check`` runs first). Its queue and data directories
must be reachable by the ``postfix`` user while the state folder may be private, so
they live in ``/var/spool/readiness-lab/<hash of the state folder>/`` (removed by
:func:`stop`). Postfix
daemonises: its master PID is recorded with ``Supervisor.adopt`` (name
``postfix``) and :func:`stop` runs ``postfix -c DIR stop`` and then makes sure
that PID is gone (SIGKILL to its process group as a last resort).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .ca import LabCA
from .process import LabError, Supervisor, alive, run, tail

# --------------------------------------------------------------------------- specs


@dataclass
class MailSpec:
    mailboxes: list[str]  # addresses that get 250 at RCPT
    domains: list[str] = field(default_factory=lambda: ["valeshared.test"])  # served domains
    rejected: list[str] = field(default_factory=list)  # fault: known, but the server rejects
    address: str = field(kw_only=True)  # the lab's: Slot.mail
    port: int = 25
    hostname: str = "mail.valeshared.test"
    # What a mail check must cope with (the tests' MTAs; see the module docstring).
    catch_all: list[str] = field(default_factory=list)  # domains accepting any address
    deferred: list[str] = field(default_factory=list)  # addresses answered 450 (greylisting)
    hard_error_limit: int = 1000  # errors after which the session is dropped (421)
    connection_limit: int = 0  # sessions per client at once (0: no limit), then 421
    certificate_names: list[str] = field(default_factory=list)  # default: [hostname]
    tls_refused: bool = False  # STARTTLS offered, but only ciphers no client accepts
    starttls: bool = True
    pipelining: bool = True  # offer PIPELINING (RFC 2920) after EHLO


@dataclass
class MailLab:
    config_dir: Path
    master_pid: int
    ca_bundle: Path


# --------------------------------------------------------------------------- public API

PROCESS = "postfix"
SPOOL_ROOT = Path("/var/spool/readiness-lab")


def start(spec: MailSpec, sup: Supervisor, ca: LabCA) -> MailLab:
    """Write the config, ``postfix check``, ``postfix start``; adopt the master PID."""
    postfix = shutil.which("postfix") or "/usr/sbin/postfix"
    if not Path(postfix).exists():
        raise LabError("postfix is missing (Debian package postfix)")
    stop(sup)
    base = sup.state_dir / "postfix"
    conf = base / "etc"
    spool = spool_dir(sup)
    for d in (conf, spool / "data", spool / "queue"):
        d.mkdir(parents=True, exist_ok=True)
    shutil.chown(spool / "data", user="postfix")
    # One file name per server: several instances may share a CA (the mail tests).
    name = "mail" if spec.hostname == MailSpec.hostname else f"mail-{spec.hostname}"
    issued = ca.issue(name, spec.certificate_names or [spec.hostname])
    _write(spec, base, spool, issued.chain, issued.key)
    # Postfix insists that inet_interfaces is an interface address.
    run(["ip", "addr", "replace", f"{spec.address}/32", "dev", "lo"])
    (base / "address").write_text(spec.address)
    _postfix(postfix, conf, "check")
    _postfix(postfix, conf, "start")
    pid_file = spool / "queue" / "pid" / "master.pid"
    deadline = time.monotonic() + 15
    pid = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
        if pid and alive(pid):
            with (
                contextlib.suppress(OSError),
                socket.create_connection((spec.address, spec.port), timeout=0.5) as s,
            ):
                s.settimeout(5)
                if s.recv(4).startswith(b"220"):
                    break
        time.sleep(0.05)
    else:
        raise LabError(f"postfix did not start within 15s:\n{tail(base / 'maillog')}")
    sup.adopt(PROCESS, pid, [postfix, "-c", str(conf), "start"], base / "maillog")
    return MailLab(conf, pid, ca.cert_path)


def stop(sup: Supervisor) -> list[str]:
    """Stop postfix: ``postfix -c DIR stop``, then verify the master PID is gone."""
    stopped: list[str] = []
    conf = sup.state_dir / "postfix" / "etc"
    for m in sup.processes():
        if m.name != PROCESS:
            continue
        if conf.exists():
            run(["postfix", "-c", str(conf), "stop"], check=False)
        deadline = time.monotonic() + 10
        while alive(m.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(m.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(m.pid, signal.SIGKILL)
        stopped += sup.stop(m.name)  # drops the record (and signals the PID if still there)
        # The master's children (smtpd, qmgr, ...) leave on their own once it is gone.
        deadline = time.monotonic() + 5
        while instance_pids(conf) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in instance_pids(conf):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if not instance_pids(conf):
        shutil.rmtree(spool_dir(sup), ignore_errors=True)
    address = sup.state_dir / "postfix" / "address"
    if address.exists():
        run(["ip", "addr", "del", f"{address.read_text().strip()}/32", "dev", "lo"], check=False)
        address.unlink()
    return stopped


def spool_dir(sup: Supervisor) -> Path:
    """Queue and data directories of this state folder's postfix instance."""
    digest = hashlib.sha256(str(sup.state_dir.resolve()).encode()).hexdigest()[:12]
    return SPOOL_ROOT / digest


def instance_pids(conf: Path) -> list[int]:
    """Live processes of the postfix instance whose config dir is ``conf``.

    Postfix passes ``MAIL_CONFIG`` to every process it starts, so the instance's
    processes are found by that variable (used by :func:`stop` and by tests).
    """
    marker = f"MAIL_CONFIG={conf}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def set_rejected(spec: MailSpec, rejected: list[str], sup: Supervisor) -> MailSpec:
    """Fault switch on a running server: rewrite the mailbox map and reload postfix.

    texthash maps are read when an smtpd starts, so this waits (up to 5 s) until
    the smtpd processes that ran before the reload are gone.
    """
    spec.rejected = list(rejected)
    conf = sup.state_dir / "postfix" / "etc"
    _write_maps(spec, conf)
    old = [p for p in instance_pids(conf) if _comm(p) == "smtpd"]
    run(["postfix", "-c", str(conf), "reload"])
    deadline = time.monotonic() + 5
    while any(alive(p) for p in old) and time.monotonic() < deadline:
        time.sleep(0.05)
    return spec


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- internals


def _postfix(postfix: str, conf: Path, command: str) -> None:
    """Run ``postfix -c conf command``; on failure, say why.

    postfix prints its fatal messages only to a terminal (or syslog, which these
    machines lack), so a failure is re-run under ``script`` to capture the reason.
    """
    if run([postfix, "-c", str(conf), command], check=False).returncode == 0:
        return
    why = run(["script", "-qc", f"{postfix} -c {conf} {command}", os.devnull], check=False)
    raise LabError(f"postfix -c {conf} {command} failed:\n{why.stdout.strip()}")


def _write_maps(spec: MailSpec, conf: Path) -> None:
    rejected = {a.lower() for a in spec.rejected}
    lines = [f"{a.lower()} ok" for a in sorted(set(spec.mailboxes)) if a.lower() not in rejected]
    lines += [f"@{d.lower()} ok" for d in spec.catch_all]  # virtual(5): the domain's catch-all
    (conf / "vmailbox").write_text("\n".join(lines) + "\n")
    greylist = [f"{a.lower()} 450 4.7.1 greylisted, try again later" for a in spec.deferred]
    (conf / "greylist").write_text("\n".join(greylist) + "\n")


def _write(spec: MailSpec, base: Path, spool: Path, chain: Path, key: Path) -> None:
    conf = base / "etc"
    _write_maps(spec, conf)
    main = {
        "compatibility_level": "3.6",
        "config_directory": str(conf),
        "queue_directory": str(spool / "queue"),
        "data_directory": str(spool / "data"),
        "meta_directory": "/etc/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "maillog_file": str(base / "maillog"),
        "maillog_file_prefixes": str(base),
        "myhostname": spec.hostname,
        "mydomain": "valeshared.test",
        "myorigin": "$myhostname",
        "inet_interfaces": spec.address,
        "inet_protocols": "ipv4",
        "mydestination": "",
        "mynetworks": "127.0.0.0/8",
        "relay_domains": "",
        "local_recipient_maps": "",
        "virtual_mailbox_domains": ", ".join(spec.domains),
        "virtual_mailbox_maps": f"texthash:{conf / 'vmailbox'}",
        "virtual_alias_maps": "",
        "virtual_transport": "discard:",
        "local_transport": "error:local delivery disabled in the lab",
        "default_transport": "error:outbound mail disabled in the lab",
        "relay_transport": "error:outbound mail disabled in the lab",
        "smtpd_relay_restrictions": "reject_unauth_destination",
        "smtpd_recipient_restrictions": (
            f"check_recipient_access texthash:{conf / 'greylist'}, reject_unlisted_recipient"
        ),
        "relay_domains_reject_code": "550",
        "unknown_virtual_mailbox_reject_code": "550",
        "smtpd_reject_unlisted_recipient": "yes",
        "in_flow_delay": "0",
        "smtpd_error_sleep_time": "0",
        "smtpd_soft_error_limit": "1000",
        "smtpd_hard_error_limit": str(spec.hard_error_limit),
        "smtpd_junk_command_limit": "1000",
        "smtpd_client_connection_rate_limit": "0",
        "smtpd_client_connection_count_limit": str(spec.connection_limit),
        # Limits apply to loopback clients too (they are exempt by default).
        **({"smtpd_client_event_limit_exceptions": ""} if spec.connection_limit else {}),
        "smtpd_peername_lookup": "no",
        "smtp_dns_support_level": "disabled",
        "lmtp_dns_support_level": "disabled",
        "smtp_host_lookup": "native",
        "biff": "no",
        "smtpd_banner": "$myhostname ESMTP readiness-lab",
        "smtpd_tls_security_level": "may" if spec.starttls else "none",
        **(_REFUSED_TLS if spec.tls_refused else {}),
        **({} if spec.pipelining else {"smtpd_discard_ehlo_keywords": "pipelining"}),
        "smtpd_tls_chain_files": f"{key}, {chain}",
        "smtpd_tls_loglevel": "0",
        "smtpd_helo_required": "no",
        "disable_vrfy_command": "yes",
        "maximal_queue_lifetime": "1h",
        "bounce_queue_lifetime": "0",
        "notify_classes": "",
    }
    (conf / "main.cf").write_text(
        "# written by the readiness lab\n" + "".join(f"{k} = {v}\n" for k, v in main.items())
    )
    (conf / "master.cf").write_text(_MASTER.format(listen=f"{spec.address}:{spec.port}"))


# Anonymous ciphers only: STARTTLS is offered, and every handshake fails.
_REFUSED_TLS = {
    "smtpd_tls_protocols": "<=TLSv1.2",
    "smtpd_tls_ciphers": "medium",
    "tls_medium_cipherlist": "aNULL",
}

_MASTER = """# written by the readiness lab (no chroot, nothing that can send mail out)
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

"""Telephony: kamailio registrar/proxy and SIPp endpoints.

- kamailio (own cfg, checked with ``kamailio -c`` first, run ``-DD -E``) on
  ADDRESS:5060 (udp+tcp; the lab's is 127.N.6.60), domain ``valeshared.test``. REGISTER is saved in
  memory (usrloc); OPTIONS to the server itself answers 200; a request for
  ``sip:EXT@valeshared.test`` is looked up and relayed to the registered contact,
  or answered ``404`` when the extension is not registered. Registrations are
  visible with JSON-RPC ``ul.dump`` over HTTP: ``POST http://ADDRESS:5080/RPC``
  (see :func:`registered`). Shared memory is sized from the registrations.
  TLS on 5061 is not offered: Debian's kamailio-tls-modules is not installed.
- SIPp "phones": one UAS on PHONES_ADDRESS:5060 (127.N.6.61) answering OPTIONS for every
  registered extension (their contacts point at it), then a one-shot SIPp client
  registers the extensions with ``registered=True``. Fault "extension not
  registered" = ``registered=False`` (or :func:`unregister`).
- SIPp "trunk/PBX" endpoints: a UAS answering OPTIONS per :class:`Endpoint` with
  ``up=True``. Fault "SIP endpoint down" = ``up=False`` (not started) or
  :func:`stop_endpoint`. ``answer`` makes it answer wrongly, for the telephony
  family's tests: ``404``, ``503``, ``silent`` (never answers), ``other-call-id``, ``truncated``
  (Content-Length longer than the body), ``malformed`` (a line that is no header); ``transport``
  ``t1`` serves TCP instead of UDP.
- SIP over TLS on sockets of their own (:class:`TlsEndpoint`, e.g. a carrier trunk's
  SBC): kamailio listens there with the endpoint's own certificate (a ``tls.cfg``
  profile per socket, for the names given, or expired) and answers every OPTIONS on it
  with the endpoint's ``code`` (503: fault "endpoint answering 503").

:func:`options_scenario` writes a UAC scenario for tests: ``sipp TARGET -sf FILE
-s USER -m 1`` exits 0 only if the expected response code comes back.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ca import LabCA
from .process import LabError, Supervisor, run

# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Extension:
    number: str  # e.g. "4101"
    registered: bool = True  # False: fault "extension not registered"


ANSWERS = ("ok", "404", "503", "silent", "other-call-id", "truncated", "malformed")


@dataclass(frozen=True)
class Endpoint:
    """A SIP trunk / PBX endpoint: a SIPp UAS answering OPTIONS."""

    name: str  # e.g. "sbc-north"
    address: str  # e.g. "127.77.6.11"
    port: int = 5060
    up: bool = True  # False: fault "SIP endpoint down" (not started)
    answer: str = "ok"  # one of ANSWERS: how it answers OPTIONS
    transport: str = "u1"  # SIPp's: u1 (UDP) or t1 (TCP)


@dataclass(frozen=True)
class TlsEndpoint:
    """SIP over TLS on a kamailio socket of its own, with its own certificate."""

    name: str  # e.g. "north-sbc"
    address: str
    port: int = 5061
    names: tuple[str, ...] = ()  # the certificate's DNS names
    code: int = 200  # the answer to every OPTIONS on this socket
    expired: bool = False  # a certificate that expired yesterday


@dataclass
class SipSpec:
    extensions: list[Extension] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    domain: str = "valeshared.test"
    address: str = field(kw_only=True)  # the lab's: Slot.sip
    port: int = 5060
    rpc_port: int = 5080  # HTTP JSON-RPC (ul.dump)
    phones_address: str = field(kw_only=True)  # the UAS behind every registered extension
    phones_port: int = 5060
    # SIP over TLS on tls_port with a LabCA certificate for sip.<domain>: True requires
    # Debian's kamailio-tls-modules (LabError if missing); None = if it is installed
    # and start() is given the lab CA.
    tls: bool | None = None
    tls_port: int = 5061
    tls_endpoints: list[TlsEndpoint] = field(default_factory=list)  # need tls


@dataclass
class SipLab:
    registrar: tuple[str, int]
    rpc_url: str
    registered: list[str]
    endpoints: dict[str, tuple[str, int]]  # endpoints started (up)
    tls: tuple[str, int] | None = None  # (address, port) when SIP over TLS is offered
    tls_endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)


# --------------------------------------------------------------------------- public API

KAMAILIO = "kamailio"
PHONES = "sipp-phones"
ENDPOINT_PREFIX = "sipp-endpoint-"


def start(spec: SipSpec, sup: Supervisor, ca: LabCA | None = None) -> SipLab:
    """Check and start kamailio, the phones UAS and the endpoints; register extensions.

    With ``ca`` (and ``spec.tls`` not False), kamailio also offers SIP over TLS. If any
    step fails, what was started is stopped again (by PID) before the error is raised.
    """
    try:
        return _start(spec, sup, ca)
    except BaseException:
        stop(sup)
        raise


def _start(spec: SipSpec, sup: Supervisor, ca: LabCA | None) -> SipLab:
    for tool in ("kamailio", "sipp"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is missing (Debian packages kamailio, sip-tester)")
    base = _base(sup)
    base.mkdir(parents=True, exist_ok=True)
    cfg = base / "kamailio.cfg"
    tls = (tls_available() and ca is not None) if spec.tls is None else spec.tls
    if tls and not tls_available():
        raise LabError("SIP over TLS needs kamailio's tls module (Debian kamailio-tls-modules)")
    if tls and ca is None:
        raise LabError("SIP over TLS needs the lab CA")
    if spec.tls_endpoints and not tls:
        raise LabError("TLS endpoints need SIP over TLS (kamailio-tls-modules and the lab CA)")
    tls_cfg = None
    if tls and ca is not None:
        issued = ca.issue("sip", [f"sip.{spec.domain}", spec.domain], [spec.address])
        tls_cfg = base / "tls.cfg"
        tls_cfg.write_text(
            _TLS_CFG.format(key=issued.key, chain=issued.chain)
            + "".join(_tls_profile(ep, ca) for ep in spec.tls_endpoints)
        )
    cfg.write_text(_kamailio_cfg(spec, tls_cfg))
    run(["kamailio", "-c", "-f", str(cfg)])
    (base / "run").mkdir(exist_ok=True)
    sup.start(
        KAMAILIO,
        [
            "kamailio",
            "-DD",
            "-E",
            "-m",
            str(shm_megabytes(len(spec.extensions))),
            "-M",
            str(pkg_megabytes(len(spec.extensions))),
            "-Y",
            str(base / "run"),
            "-f",
            str(cfg),
        ],
        ready=functools.partial(_rpc_ready, _rpc_url(spec)),
        ready_timeout=30,
    )
    _write_scenarios(base)
    sup.start(
        PHONES,
        _uas(base, spec.phones_address, spec.phones_port),
        ready=functools.partial(_udp_bound, spec.phones_address, spec.phones_port),
    )
    endpoints: dict[str, tuple[str, int]] = {}
    for ep in spec.endpoints:
        if ep.up:
            start_endpoint(ep, sup)
            endpoints[ep.name] = (ep.address, ep.port)
    numbers = [e.number for e in spec.extensions if e.registered]
    register(spec, numbers, sup)
    return SipLab(
        (spec.address, spec.port),
        _rpc_url(spec),
        numbers,
        endpoints,
        (spec.address, spec.tls_port) if tls_cfg else None,
        {ep.name: (ep.address, ep.port) for ep in spec.tls_endpoints},
    )


def stop(sup: Supervisor) -> list[str]:
    """Stop the endpoints, the phones and kamailio (by PID)."""
    stopped: list[str] = []
    for m in reversed(sup.processes()):
        if m.name.startswith(ENDPOINT_PREFIX) or m.name in (PHONES, KAMAILIO):
            stopped += sup.stop(m.name)
    return stopped


def register(spec: SipSpec, numbers: list[str], sup: Supervisor) -> None:
    """Register ``numbers`` (contacts at the phones UAS) with a one-shot SIPp client."""
    if not numbers:
        return
    base = _base(sup)
    (base / "register.xml").write_text(
        _REGISTER.replace("[$domain]", spec.domain)
        .replace("[$expires]", "86400")
        .replace("[$phone]", f"{spec.phones_address}:{spec.phones_port}")
    )
    csv = base / "register.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    proc = run(
        [
            "sipp",
            f"{spec.address}:{spec.port}",
            "-sf",
            str(base / "register.xml"),
            "-inf",
            str(csv),
            "-m",
            str(len(numbers)),
            "-r",
            "5000",
            "-rp",
            "1000",
            "-l",
            "1000",
            "-t",
            "u1",
            "-i",
            spec.phones_address,
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
            "-max_retrans",
            "5",
            "-trace_err",
            "-error_file",
            str(base / "register-errors.log"),
        ],
        check=False,
    )
    if proc.returncode != 0:
        raise LabError(
            f"sipp could not register all extensions (exit {proc.returncode}); "
            f"see {base / 'register-errors.log'}"
        )


def unregister(spec: SipSpec, number: str) -> None:
    """Fault switch on a running lab: remove one extension's registration (ul.rm)."""
    _rpc(_rpc_url(spec), "ul.rm", ["location", number])


def registered(rpc_url: str) -> list[str]:
    """The extensions (AORs) currently registered, from kamailio's ``ul.dump``."""
    result = _rpc(rpc_url, "ul.dump", [])
    aors: list[str] = []
    for domain in result.get("Domains", []):
        for rec in domain.get("Domain", {}).get("AoRs", []):
            aors.append(str(rec["Info"]["AoR"]))
    return sorted(aors)


def start_endpoint(ep: Endpoint, sup: Supervisor) -> None:
    """Start one trunk/SBC endpoint (a SIPp UAS answering OPTIONS)."""
    base = _base(sup)
    _write_scenarios(base)
    if ep.answer not in ANSWERS:
        raise LabError(f"endpoint {ep.name}: answer {ep.answer!r} is not one of {ANSWERS}")
    ready = _udp_bound if ep.transport == "u1" else _tcp_listening
    sup.start(
        ENDPOINT_PREFIX + ep.name,
        _uas(base, ep.address, ep.port, ep.answer, ep.transport),
        ready=functools.partial(ready, ep.address, ep.port),
    )


def stop_endpoint(name: str, sup: Supervisor) -> None:
    """Fault "SIP endpoint down" on a running lab: stop one endpoint."""
    sup.stop(ENDPOINT_PREFIX + name)


def tls_available() -> bool:
    """True if kamailio's tls module is installed (Debian kamailio-tls-modules)."""
    return any(Path(d, "tls.so").exists() for d in _MODULE_DIRS)


def shm_megabytes(registrations: int) -> int:
    """kamailio shared memory: 256 MB + 1 MB per 8 contacts (LAB-NOTES)."""
    return 256 + (registrations + 7) // 8


def pkg_megabytes(registrations: int) -> int:
    """kamailio private memory per process: ``ul.dump`` builds its whole reply there."""
    return 32 + registrations // 250


def options_scenario(path: Path, expect: int = 200) -> Path:
    """Write a SIPp UAC scenario sending one OPTIONS to ``sip:[service]@[remote_ip]``.

    Run as ``sipp HOST:PORT -sf PATH -s USER -m 1 -t u1 -i 127.0.0.1 -timeout 10s
    -timeout_error -nostdin``: exit 0 iff the response code is ``expect``.
    """
    path.write_text(_OPTIONS_UAC.replace("EXPECT", str(expect)))
    return path


# --------------------------------------------------------------------------- internals


def _base(sup: Supervisor) -> Path:
    return sup.state_dir / "sip"


def _rpc_url(spec: SipSpec) -> str:
    return f"http://{spec.address}:{spec.rpc_port}/RPC"


def _rpc(url: str, method: str, params: list[str]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    req = urllib.request.Request(  # noqa: S310 - the lab's own http:// loopback URL
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        answer = json.loads(resp.read())
    if "error" in answer:
        raise LabError(f"kamailio {method}: {answer['error']}")
    result = answer.get("result", {})
    return result if isinstance(result, dict) else {}


def _rpc_ready(url: str) -> bool:
    _rpc(url, "core.version", [])
    return True


def _udp_bound(address: str, port: int) -> bool:
    """True once something has bound ``address:port`` over UDP (we can no longer bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


def _tcp_listening(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((address, port)) == 0


def _uas(
    base: Path, address: str, port: int, answer: str = "ok", transport: str = "u1"
) -> list[str]:
    scenario = "options-uas.xml" if answer == "ok" else f"options-uas-{answer}.xml"
    return [
        "sipp",
        "-sf",
        str(base / scenario),
        "-i",
        address,
        "-p",
        str(port),
        "-t",
        transport,
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(base / f"uas-{address}-{port}-errors.log"),
    ]


def _write_scenarios(base: Path) -> None:
    (base / "options-uas.xml").write_text(_OPTIONS_UAS)
    for answer, reply in _WRONG_ANSWERS.items():
        (base / f"options-uas-{answer}.xml").write_text(_uas_scenario(answer, reply))


def _tls_profile(ep: TlsEndpoint, ca: LabCA) -> str:
    """A tls.cfg server profile: the endpoint's own certificate on its own socket."""
    import datetime as dt

    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    issued = ca.issue(
        f"sip-{ep.name}",
        list(ep.names),
        not_before=yesterday - dt.timedelta(days=365) if ep.expired else None,
        not_after=yesterday if ep.expired else None,
    )
    return (
        f"\n[server:{ep.address}:{ep.port}]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        f"require_certificate = no\nprivate_key = {issued.key}\ncertificate = {issued.chain}\n"
    )


_MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
)

_TLS_CFG = """# written by the readiness lab
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {chain}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


def _kamailio_cfg(spec: SipSpec, tls_cfg: Path | None) -> str:
    tls_listen = tls_load = answers = ""
    if tls_cfg is not None:
        tls_listen = f"enable_tls=yes\nlisten=tls:{spec.address}:{spec.tls_port}\n"
        tls_load = f'loadmodule "tls.so"\nmodparam("tls", "config", "{tls_cfg}")\n'
        for ep in spec.tls_endpoints:
            tls_listen += f"listen=tls:{ep.address}:{ep.port}\n"
            tls_listen += "".join(f'alias="{name}"\n' for name in ep.names)
            reason = {200: "OK", 503: "Service Unavailable"}.get(ep.code, "Answer")
            answers += (
                f'    if ($Ri == "{ep.address}" && $Rp == {ep.port}) {{\n'
                f'        if ($rm == "OPTIONS") {{ sl_send_reply("{ep.code}", "{reason}"); }}\n'
                '        else { sl_send_reply("403", "Trunk endpoint: OPTIONS only"); }\n'
                "        exit;\n    }\n"
            )
    return f"""#!KAMAILIO
# written by the readiness lab
debug=2
log_stderror=yes
log_facility=LOG_LOCAL0
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
use_dns_cache=off
listen=udp:{spec.address}:{spec.port}
listen=tcp:{spec.address}:{spec.port}
listen=tcp:{spec.address}:{spec.rpc_port}
{tls_listen}alias="{spec.domain}"
alias="sip.{spec.domain}"
tcp_accept_no_cl=yes
# ul.dump of 10,000 contacts is a ~9 MB HTTP reply: let the TCP write queue hold it.
tcp_conn_wq_max=67108864
tcp_wq_max=134217728

{tls_load}loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"

# A phone that does not answer gets 408 after 4 s (the default, 30 s, outlasts a probe).
modparam("tm", "fr_timer", 4000)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "default_expires", 86400)
modparam("registrar", "max_expires", 604800)
modparam("jsonrpcs", "transport", 1)
modparam("jsonrpcs", "pretty_format", 0)
modparam("xhttp", "url_match", "^/RPC")

request_route {{
{answers}    if ($rm == "REGISTER") {{
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if ($rm == "ACK") {{
        if (t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (!(uri == myself)) {{
        sl_send_reply("403", "Not relaying");
        exit;
    }}
    if ($rU == $null) {{
        if ($rm == "OPTIONS") {{ sl_send_reply("200", "OK"); }}
        else {{ sl_send_reply("484", "Address Incomplete"); }}
        exit;
    }}
    if (!lookup("location")) {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if (!($rd =~ "^127\\.")) {{
        sl_send_reply("403", "Contact outside the lab");
        exit;
    }}
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

event_route[xhttp:request] {{
    if ($Rp != {spec.rpc_port}) {{
        xhttp_reply("403", "Forbidden", "text/plain", "RPC only on port {spec.rpc_port}\\n");
        exit;
    }}
    jsonrpc_dispatch();
}}
"""


_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register extensions">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[$domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[$domain]>;tag=[pid]reg[call_number]
      To: <sip:[field0]@[$domain]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[$phone]>
      Expires: [$expires]
      Max-Forwards: 70
      User-Agent: readiness-lab
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

_OPTIONS_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer OPTIONS">
  <recv request="OPTIONS"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# How a wrong UAS answers OPTIONS (the telephony family's bad-answer tests).
_WRONG_ANSWERS = {
    "404": """SIP/2.0 404 Not Found
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
""",
    "503": """SIP/2.0 503 Service Unavailable
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Retry-After: 3600
      Content-Length: 0
""",
    "other-call-id": """SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      Call-ID: another-[call_id]
      [last_CSeq:]
      Content-Length: 0
""",
    "truncated": """SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Type: application/sdp
      Content-Length: 400

      v=0
""",
    "malformed": """SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      this line is not a header
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
""",
    "silent": "",
}


def _uas_scenario(answer: str, reply: str) -> str:
    send = f"  <send>\n    <![CDATA[\n      {reply}\n    ]]>\n  </send>\n" if reply else ""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="answer OPTIONS: {answer}">\n'
        '  <recv request="OPTIONS"/>\n'
        f"{send}</scenario>\n"
    )


_OPTIONS_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="send one OPTIONS, expect EXPECT">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:probe@[local_ip]>;tag=[pid]opt[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="EXPECT"/>
</scenario>
"""

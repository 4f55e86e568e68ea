"""Write the inventory that describes a lab estate, its secrets and its lab facts.

* :func:`write_inventory` -> ``<out>/`` YAML files in the project's own format
  (docs/inventory.md) plus HR-style CSV exports of the bulk of the staff. Pure
  function of the estate, the network mode and the state folder's name: same size +
  seed => the same bytes (no timestamps, no random ports; the CA bundle and SSH
  known_hosts are referred to by path only, see :func:`state_paths`).
* :func:`write_secrets` -> ``<state>/secrets/`` (mode 0600): service-account bind
  passwords, pilot passwords, SSH client keys. Existing values are kept, so a
  second ``lab up`` in the same state folder does not change them.
* :func:`write_facts` -> ``<state>/lab-facts.json``: mail and telephony facts
  (domains, MX, SPF, DMARC, DKIM selectors, mailboxes, extensions, SIP endpoints)
  for check families that do not own an inventory section yet.

Only sections owned by the core or by an installed family are written: the core
sections (``applications``, ``network_resources``, ``mail_domains`` with the mail
family's ``mail`` block) and ``directories`` (identity). Secret fields hold
``file:NAME`` references relative to the secrets folder (``readiness sweep
--secrets-dir <state>/secrets``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets as _secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from . import internet
from .dns import DKIM_SELECTOR
from .estate import (
    AD_DOMAIN,
    INTERNET,
    SHARED_DOMAIN,
    UNTRUSTED_VANTAGE,
    Application,
    Estate,
    Person,
)
from .faults import LEGACY_SELECTOR

PROGRAMME = "Vale Shared Service"
DEFAULT_STATE = ".lab"


def state_paths(state_name: str = DEFAULT_STATE) -> tuple[str, str]:
    """(ca_bundle, known_hosts) as written in the inventory, relative to its files.

    ``../../<state name>/ca/ca.pem`` from ``<state>/inventory/`` is ``<state>/ca/ca.pem``
    whatever the state folder, and from ``inventories/example/`` it is the default lab's
    ``.lab/ca/ca.pem`` at the top of the project: so the committed example, byte for
    byte what ``lab up`` writes at the defaults, can be swept against that lab as it is.
    """
    if not state_name or "/" in state_name or state_name in (".", ".."):
        raise ValueError(f"not a folder name: {state_name!r}")
    base = f"../../{state_name}"
    return f"{base}/ca/ca.pem", f"{base}/ssh/known_hosts"


SSH_USER = "readiness"
UNTRUSTED_KNOWN_HOSTS = f"ssh/known_hosts-{UNTRUSTED_VANTAGE}"
UNTRUSTED_NOTE = (
    f"# {UNTRUSTED_VANTAGE}: no host keys yet. Compare the fingerprints, then run\n"
    f"#   readiness vantage trust INVENTORY --vantage {UNTRUSTED_VANTAGE}\n"
)
FILES = (
    "programme.yaml",
    "sites.yaml",
    "roles.yaml",
    "directories.yaml",
    "applications.yaml",
    "telephony.yaml",
    "mail.yaml",
    "staff.yaml",
    "hr/staff-north.csv",
    "hr/staff-south.csv",
)


def _header(estate: Estate, what: str) -> str:
    return (
        f"# {what}\n# Written by `readiness lab render --staff {estate.staff_per_org} "
        f"--seed {estate.seed}` (lab/writer.py): regenerate rather than edit.\n"
    )


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(
        dict(data), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def _write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline=newline) as out:
        out.write(text)


def inventory_documents(
    estate: Estate, *, namespaces: bool = True, state_name: str = DEFAULT_STATE
) -> dict[str, str]:
    """Relative file name -> content of every inventory file (pure)."""
    ca_bundle, known_hosts = state_paths(state_name)
    dns, dns_site = estate.slot.dns, estate.slot.dns_site
    docs: dict[str, str] = {}
    docs["programme.yaml"] = _header(estate, "The merger programme and its organisations.") + _dump(
        {
            "programme": {
                "name": PROGRAMME,
                "go_live": estate.go_live,
                "description": (
                    f"Lab estate of two merging councils: {estate.staff_per_org} "
                    f"staff per organisation, seed {estate.seed}"
                ),
                "resolvers": [dns],
            },
            "organisations": {
                o.id: {
                    "name": o.name,
                    "mail_domains": {"old": [o.domain], "new": SHARED_DOMAIN},
                    "ca_bundle": ca_bundle,
                    "owner": o.owner,
                    "telephony": {"ranges": [o.ext_range]},
                }
                for o in estate.organisations
            },
        }
    )
    sites: dict[str, Any] = {}
    vantage_points: dict[str, Any] = {}
    for s in estate.sites:
        entry: dict[str, Any] = {"organisation": s.organisation, "name": s.name}
        if s.vantage_point and s.jump_ip and s.fallback_jump:
            entry["vantage_points"] = [s.vantage_point]
            entry["resolvers"] = [dns_site if namespaces else dns]
            host, port = (s.jump_ip, 22) if namespaces else s.fallback_jump
            vantage_points[s.vantage_point] = {
                "kind": "ssh",
                "host": host,
                "port": port,
                "user": SSH_USER,
                "key": f"file:{s.vantage_point}.key",
                "known_hosts": known_hosts,
            }
            if s.id == "north-hq":  # no site uses it: nothing is probed from it
                vantage_points[UNTRUSTED_VANTAGE] = {
                    **vantage_points[s.vantage_point],
                    "known_hosts": f"../../{state_name}/{UNTRUSTED_KNOWN_HOSTS}",
                }
        else:
            entry["resolvers"] = [dns]
        entry["owner"] = estate.org(s.organisation).owner
        sites[s.id] = entry
    if namespaces:  # outside both organisations: it resolves as the internet does
        vantage_points[INTERNET] = {
            "kind": "ssh",
            "host": internet.jump_address(estate.slot),
            "port": 22,
            "user": SSH_USER,
            "key": f"file:{INTERNET}.key",
            "known_hosts": known_hosts,
            "resolvers": [dns_site],
        }
    docs["sites.yaml"] = _header(estate, "Sites and the vantage points probes run from.") + _dump(
        {"sites": sites, "vantage_points": vantage_points}
    )
    roles = {}
    app_groups = {a.group for a in estate.applications}
    for r in estate.roles:
        role: dict[str, Any] = {"description": r.description}
        if r.applications:
            role["applications"] = list(r.applications)
        if r.network_resources:
            role["network_resources"] = list(r.network_resources)
        groups = [g for g in r.groups if g not in app_groups]  # those: application_groups
        if groups:
            role["groups"] = groups
        role["extension"] = r.extension
        role["mailbox"] = r.mailbox
        roles[r.id] = role
    docs["roles.yaml"] = _header(estate, "Roles: what each kind of job needs on Day 1.") + _dump(
        {"roles": roles}
    )
    directories = {}
    for d in estate.directories:
        entry = {"kind": d.kind, "organisations": list(d.organisations)}
        if d.staff_tags:
            entry["staff_tags"] = list(d.staff_tags)
        entry |= {
            "url": d.url,
            "start_tls": d.start_tls,
            "base_dn": d.base_dn,
            "people_base": d.people_base,
            "groups_base": d.groups_base,
            "bind_dn": d.bind_dn,
            "bind_password": f"file:{d.bind_secret}",
            "match": d.match,
            "owner": d.owner,
            # The group granting each application: its group-member results speak about
            # that application's need (entitlement), not about the account.
            "application_groups": {a.id: [a.group] for a in estate.applications},
        }
        if d.kind == "openldap":  # the lab's zones publish them (AD's are checked by default)
            entry["srv_records"] = ["ldap", "ldaps"]
        directories[d.id] = entry
    docs["directories.yaml"] = _header(estate, "Directories (identity check family).") + _dump(
        {"directories": directories}
    )
    docs["applications.yaml"] = _header(
        estate, "Shared applications and site network resources (service objects)."
    ) + _dump(
        {
            "applications": {
                a.id: {"name": a.name, "url": a.url, "owner": a.owner}
                | ({"checked_from": INTERNET} if a.remote_access and namespaces else {})
                | {"http": _http_block(a)}
                for a in estate.applications
            },
            "network_resources": {
                r.id: {
                    "name": r.name,
                    "host": r.host,
                    "port": r.port,
                    "owner": r.owner,
                    "organisation": r.organisation,
                    "tcp": {"site": r.site}
                    | (
                        {"not_reachable_from": internet.not_reachable_from(estate, r)}
                        if namespaces
                        else {}
                    ),
                }
                for r in estate.resources
            },
        }
    )
    docs["mail.yaml"] = _header(
        estate, "Mail domains (service objects) and the mail family's block."
    ) + _dump({"mail_domains": mail_domains(estate)})
    docs["telephony.yaml"] = _header(
        estate, "Telephony endpoints (service objects) and their SIP settings."
    ) + _dump({"telephony_endpoints": telephony_endpoints(estate)})
    inline = [p for p in _staff(estate) if _inline(p)]
    docs["staff.yaml"] = _header(
        estate, "Staff: special accounts inline, the bulk from the HR exports in hr/."
    ) + _dump({"staff": [_staff_entry(p) for p in inline], "staff_sources": _sources()})
    for org in estate.organisations:
        rows = [p for p in _staff(estate) if p.organisation == org.id and not _inline(p)]
        docs[f"hr/staff-{org.id}.csv"] = _csv(org.id, rows)
    return docs


def _http_block(app: Application) -> dict[str, Any]:
    """The applications family's block: health page, SSO front, pilot login."""
    block: dict[str, Any] = {"path": app.health, "expect_content": "ok", "min_cert_days": 30}
    if app.sso:
        block["login_redirect"] = {"path": "/login", "host": f"login.{SHARED_DOMAIN}"}
    if app.form_login:
        block["pilot"] = {"method": "form", "path": "/login", "realm": app.id}
    else:
        block["pilot"] = {"method": "basic", "path": "/pilot/", "realm": app.id}
    return block


MAIL_OWNER = "Shared service mail team"


def mail_domains(estate: Estate) -> dict[str, Any]:
    """The programme's mail domains as the mail family checks them: every domain's MX is
    the shared platform; the old domains keep accepting old addresses (coexistence).
    Mail arrives from outside, so each domain is checked once, centrally."""
    mx = f"mail.{SHARED_DOMAIN}"
    legacy = [f"smtp.{o.domain}" for o in estate.organisations]
    out: dict[str, Any] = {
        SHARED_DOMAIN: {
            "name": "Vale Shared Service mail",
            "owner": MAIL_OWNER,
            "checked_from": "central",
            "mail": {
                "mx": [mx],
                "spf_senders": [mx, *legacy],
                "dkim_selectors": [DKIM_SELECTOR],
                "dmarc": {"p": "reject", "sp": "reject"},
                "autodiscover": [f"autodiscover.{SHARED_DOMAIN}", f"autoconfig.{SHARED_DOMAIN}"],
            },
        }
    }
    for o in estate.organisations:
        out[o.domain] = {
            "name": f"{o.name} mail (old domain)",
            "owner": o.owner,
            "organisation": o.id,
            "checked_from": "central",
            "mail": {
                "mx": [mx],
                "spf_senders": [f"smtp.{o.domain}", mx],
                "dkim_selectors": [DKIM_SELECTOR, LEGACY_SELECTOR],
                "dmarc": {"p": "quarantine"},
                "coexistence": True,
                "autodiscover": [f"autodiscover.{o.domain}"],
            },
        }
    return out


def telephony_endpoints(estate: Estate) -> dict[str, Any]:
    """The shared registrar (kamailio: SRV domain, JSON-RPC registrations), each
    organisation's legacy PBX (UDP only, so checked from this machine: an SSH jump host
    cannot carry UDP) and carrier trunk SBC (TLS, checked from the sites)."""
    out: dict[str, Any] = {
        "registrar": {
            "name": "Vale Shared SIP registrar and proxy",
            "owner": "Shared service telephony team",
            "sip": {
                "kind": "registrar",
                "domain": SHARED_DOMAIN,
                "transports": ["udp", "tcp", "tls"],
                "registrations": {"read": "jsonrpc", "url": f"http://sip.{SHARED_DOMAIN}:5080/RPC"},
            },
        }
    }
    for e in (*estate.sip_endpoints, *estate.sbcs):
        out[e.id] = {
            "name": e.name,
            "owner": e.owner,
            "organisation": e.organisation,
            "serves": [e.organisation],
            **({"sites": list(e.sites)} if e.sites else {}),
            **({"checked_from": "central"} if e.kind == "pbx" else {}),
            "sip": {
                "kind": e.kind,
                "host": e.host,
                "port": e.port,
                "transports": ["udp"] if e.kind == "pbx" else ["tls"],
            },
        }
    return out


def _staff(estate: Estate) -> list[Person]:
    return sorted(estate.staff, key=lambda p: (p.organisation, p.id))


def _inline(person: Person) -> bool:
    """Service accounts and shared mailboxes are written inline; staff, pilots included
    (pilot flag, credentials), come from the HR exports."""
    return person.kind != "staff"


def _staff_entry(p: Person) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": p.id,
        "organisation": p.organisation,
        "site": p.site,
        "roles": list(p.roles),
        "name": p.name,
        "username": p.username,
    }
    if p.upn:
        entry["upn"] = p.upn
    if p.old_mail:
        entry["old_mail"] = list(p.old_mail)
    if p.new_mail:
        entry["new_mail"] = p.new_mail
    if p.extension:
        entry["extension"] = p.extension
    if p.tags:
        entry["tags"] = list(p.tags)
    return entry


# The two councils export differently: Northvale from a spreadsheet (UTF-8 with BOM,
# CRLF, commas), Southmere from its HR system (semicolons, "|" inside cells, LF).
_EXPORTS: dict[str, dict[str, Any]] = {
    "north": {
        "delimiter": ",",
        "list_separator": ";",
        "bom": True,
        "newline": "\r\n",
        "columns": {
            "id": "EmployeeID",
            "name": "DisplayName",
            "username": "Login",
            "site": "Office",
            "roles": "JobRoles",
            "old_mail": "Mail",
            "new_mail": "NewMail",
            "extension": "Extension",
            "upn": "UPN",
            "tags": "Tags",
            "pilot": "Pilot",
            "credentials.shared-ad": "SharedADPassword",
            "needs.applications": "ExtraApps",
        },
    },
    "south": {
        "delimiter": ";",
        "list_separator": "|",
        "bom": False,
        "newline": "\n",
        "columns": {
            "id": "staff_no",
            "name": "full_name",
            "username": "account",
            "site": "location",
            "roles": "roles",
            "old_mail": "email",
            "new_mail": "email_new",
            "extension": "ext",
            "upn": "upn",
            "tags": "flags",
            "pilot": "pilot",
            "credentials.shared-ad": "ad_secret",
            "needs.applications": "extra_apps",
        },
    },
}
# Each pilot row's credential in its council's directory (the CSV has no column for it).
PILOT_CREDENTIAL = "file:pilots/{organisation}-{id}.pw"


def _sources() -> list[dict[str, Any]]:
    out = []
    for org, spec in _EXPORTS.items():
        source: dict[str, Any] = {"file": f"hr/staff-{org}.csv", "organisation": org}
        if spec["delimiter"] != ",":
            source["delimiter"] = spec["delimiter"]
        source["list_separator"] = spec["list_separator"]
        source["columns"] = dict(spec["columns"])
        source["credential"] = PILOT_CREDENTIAL
        out.append(source)
    return out


def _csv(org: str, people: Iterable[Person]) -> str:
    spec = _EXPORTS[org]
    columns: dict[str, str] = spec["columns"]
    sep: str = spec["list_separator"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=spec["delimiter"], lineterminator=spec["newline"])
    writer.writerow(list(columns.values()))
    for p in people:
        values = {
            "id": p.id,
            "name": p.name,
            "username": p.username,
            "site": p.site,
            "roles": sep.join(p.roles),
            "old_mail": sep.join(p.old_mail),
            "new_mail": p.new_mail,
            "extension": p.extension,
            "upn": p.upn,
            "tags": sep.join(p.tags),
            "pilot": "yes" if p.pilot else "",
            "credentials.shared-ad": f"file:{p.ad_credential_secret}"
            if p.pilot and p.migrated
            else "",
            "needs.applications": sep.join(p.needs_apps),
        }
        writer.writerow([values[field] for field in columns])
    return ("\ufeff" if spec["bom"] else "") + buffer.getvalue()


def write_inventory(
    estate: Estate, out: Path, *, namespaces: bool = True, state_name: str = DEFAULT_STATE
) -> list[Path]:
    """Write the inventory files into ``out`` (created); returns the paths written.

    Files of an earlier render that this one does not write are removed, so the
    folder always holds exactly one estate.
    """
    docs = inventory_documents(estate, namespaces=namespaces, state_name=state_name)
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.yaml"), *out.glob("hr/*.csv")]:
        if old.relative_to(out).as_posix() not in docs:
            old.unlink()
    written = []
    for name, text in docs.items():
        path = out / name
        # CSV documents carry their own line endings (csv.writer's lineterminator).
        _write(path, text, newline="" if name.endswith(".csv") else "\n")
        written.append(path)
    return written


# --------------------------------------------------------------------------- secrets


def _secret_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        # Exactly the value: `ldapsearch -y FILE` sends a trailing newline as part of the
        # password. (Keys passed in `extra` keep the newline PEM text ends with.)
        out.write(value)
    path.chmod(0o600)


def new_password() -> str:
    """A random lab password (letters, digits and a symbol: passes AD complexity rules)."""
    # Letters, digits and a symbol from each class: satisfies AD complexity rules.
    return _secrets.token_urlsafe(15) + "-Aa7"


def write_secrets(
    estate: Estate, secrets_dir: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Write (or keep) every secret the inventory refers to; returns name -> value.

    Names are the ``file:`` references of the inventory: ``<directory>-readiness.secret``,
    ``pilots/<org>-<id>.pw``; ``extra`` adds or replaces files (e.g. SSH keys).
    """
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    names = [d.bind_secret for d in estate.directories] + [
        p.credential_secret for p in estate.pilots
    ]
    names += [p.ad_credential_secret for p in estate.pilots if p.migrated]
    values: dict[str, str] = {}
    for name in names:
        path = secrets_dir / name
        if path.exists():
            values[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
            continue
        values[name] = new_password()
        _secret_file(path, values[name])
    for name, value in (extra or {}).items():
        _secret_file(secrets_dir / name, value)
        values[name] = value.rstrip("\r\n")
    return values


# --------------------------------------------------------------------------- facts


def lab_facts(estate: Estate, *, namespaces: bool = True) -> dict[str, Any]:
    """Mail and telephony facts of the estate (for families without inventory sections)."""
    domains = [SHARED_DOMAIN, *(o.domain for o in estate.organisations)]
    mailboxes = sorted(p.new_mail for p in estate.staff if p.new_mail)
    old = sorted(a for p in estate.staff for a in p.old_mail)
    slot = estate.slot
    return {
        "staff_per_org": estate.staff_per_org,
        "seed": estate.seed,
        "dns": {
            "server": f"{slot.dns}:53",
            "site_server": f"{slot.dns_site}:53",
            "zones": domains,
            "hosts": estate.hosts(namespaces),
        },
        "mail": {
            "smtp": f"{slot.mail}:25",
            "mx": f"mail.{SHARED_DOMAIN}",
            "starttls": True,
            "domains": {
                d: {
                    "mx": f"mail.{SHARED_DOMAIN}",
                    "dkim_selector": DKIM_SELECTOR,
                    "dmarc": f"_dmarc.{d}",
                }
                for d in domains
            },
            "sending_hosts": {o.domain: f"smtp.{o.domain}" for o in estate.organisations},
            "accepted": mailboxes,
            "coexistence_old_addresses": old,
            "autodiscover": f"autodiscover.{SHARED_DOMAIN}",
        },
        "sip": {
            "registrar": f"sip.{SHARED_DOMAIN}",
            "address": f"{slot.sip}:5060",
            "tls": f"{slot.sip}:5061 (when kamailio-tls-modules is installed)",
            "endpoints": {
                e.id: {"host": e.host, "address": f"{e.ip}:{e.port}", "owner": e.owner}
                for e in estate.sip_endpoints
            },
            "extensions": {
                p.extension: p.key for p in sorted(estate.staff, key=lambda x: x.key) if p.extension
            },
        },
        "ad": {
            "realm": AD_DOMAIN.upper(),
            "dc": f"dc1.{AD_DOMAIN}",
            "migrated": sorted(p.key for p in estate.migrated),
        },
    }


def write_facts(
    estate: Estate,
    state_dir: Path,
    *,
    namespaces: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    facts = lab_facts(estate, namespaces=namespaces) | dict(extra or {})
    path = state_dir / "lab-facts.json"
    path.write_text(
        json.dumps(facts, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
    )
    return path

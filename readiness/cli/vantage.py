"""``readiness vantage trust``: fetch the SSH host keys of the inventory's vantage
points, show their fingerprints, and write the known-hosts file once a person has
compared them (or ``--yes`` in automation, after the fingerprints were checked some
other way).

Estates rarely hand over a known-hosts file, yet a sweep never trusts a host key on
first use: an unknown or changed key refuses the vantage point. This command is the
one deliberate step that adds keys. A key already in the file is left alone; a
*changed* key is never replaced without ``--replace`` (it may be an attack).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import difflib
import hashlib
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.cli.common import UsageError, families, load_inventory
from readiness.results import ExitCode

if TYPE_CHECKING:
    import paramiko

    from readiness.inventory import Inventory
    from readiness.inventory.models import VantagePoint

# Host key algorithms asked for, one handshake each (as ssh-keyscan does).
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
)


def register(sub: Any) -> None:
    p = sub.add_parser("vantage", help="SSH vantage points: trust their host keys")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser(
        "trust",
        help="fetch the host keys of the inventory's SSH vantage points, show their "
        "fingerprints and write the known_hosts file after confirmation",
    )
    t.add_argument("inventory", type=Path, help="inventory folder or file")
    t.add_argument(
        "--vantage", action="append", default=[], metavar="ID", help="only this vantage point"
    )
    t.add_argument(
        "--yes",
        action="store_true",
        help="write without asking (automation: compare the fingerprints some other way)",
    )
    t.add_argument(
        "--replace",
        action="store_true",
        help="replace a key that CHANGED (refused otherwise: it may be an attack)",
    )
    t.add_argument("--timeout", type=float, default=10.0, help="seconds per connection")
    t.set_defaults(handler=cmd_trust)


@dataclass(frozen=True)
class Seen:
    """One host key a vantage point presented, and what the known-hosts file says."""

    vantage: str
    entry: str  # the known_hosts name: host, or [host]:port
    key: paramiko.PKey
    file: Path
    state: str  # new | known | changed
    was: str = ""  # the fingerprint on file, for a changed key

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: ``SHA256:`` and the unpadded base64 of the key's SHA-256."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def cmd_trust(ns: argparse.Namespace) -> int:
    inventory = load_inventory(ns.inventory, families())
    points = _chosen(inventory, ns.vantage)
    seen: list[Seen] = []
    unreachable = 0
    resolve = _resolver(inventory)
    for name, point in points.items():
        if point.insecure_host_key:
            print(f"{name}: insecure_host_key is set, keys are not verified: nothing to trust")
            continue
        if not point.known_hosts:
            raise UsageError(
                f"vantage point {name} names no known_hosts file: add `known_hosts: FILE` "
                f"to it ({inventory.where('vantage_points', name)}), then trust it"
            )
        file = inventory.resolve_path(point.known_hosts, "vantage_points", name, "known_hosts")
        try:
            keys = fetch_keys(point, resolve, ns.timeout)
        except OSError as exc:
            print(f"{name}: could not fetch the host keys: {exc}", file=sys.stderr)
            unreachable += 1
            continue
        seen += compare(name, point, keys, file)
    for s in seen:
        note = {"new": "new", "known": "already trusted", "changed": f"CHANGED (was {s.was})"}
        print(f"{s.vantage}  {s.entry}  {s.key.get_name()}  {s.fingerprint}  {note[s.state]}")
    changed = [s for s in seen if s.state == "changed"]
    if changed and not ns.replace:
        print(
            f"{len(changed)} key(s) differ from the known_hosts file: this may be an attack. "
            "Check with the host's administrator; --replace writes the new key(s).",
            file=sys.stderr,
        )
    wanted = [s for s in seen if s.state == "new" or (s.state == "changed" and ns.replace)]
    if wanted and not (ns.yes or _confirmed(wanted)):
        print("Nothing written.")
        return ExitCode.FAILED
    for file in sorted({s.file for s in wanted}):
        write_known_hosts(file, [s for s in wanted if s.file == file])
        print(f"Wrote {sum(1 for s in wanted if s.file == file)} key(s) to {file}")
    if changed and not ns.replace:
        return ExitCode.FAILED
    return ExitCode.UNKNOWN if unreachable else ExitCode.OK


def _chosen(inventory: Inventory, names: list[str]) -> dict[str, VantagePoint]:
    ssh = {k: v for k, v in sorted(inventory.vantage_points.items()) if v.kind == "ssh"}
    for name in names:
        if name not in ssh:
            close = difflib.get_close_matches(name, list(ssh), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"--vantage {name!r} is not an ssh vantage point of the inventory{hint}"
            )
    if not ssh:
        raise UsageError("the inventory has no ssh vantage points")
    return {k: v for k, v in ssh.items() if not names or k in names}


def _resolver(inventory: Inventory) -> Any:
    """Host names resolve as the sweep resolves them (``programme.resolvers``)."""
    from readiness.family import RunContext

    ctx = RunContext(
        inventory,
        go_live=inventory.go_live,
        clock=lambda: dt.datetime.now(dt.UTC),
        secrets_dir=inventory.root,
        state_dir=inventory.root,
    )
    return ctx.dns.resolve


def fetch_keys(point: VantagePoint, resolve: Any, timeout: float) -> list[paramiko.PKey]:
    """Every host key the server offers (one handshake per algorithm, no login)."""
    import paramiko

    from readiness.net.dns import ResolveError

    assert point.host is not None
    try:
        address = resolve(point.host)[0]
    except ResolveError as exc:
        raise OSError(str(exc)) from None
    keys: dict[tuple[str, str], paramiko.PKey] = {}
    for key_type in KEY_TYPES:
        sock = socket.create_connection((address, point.port), timeout=timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.get_security_options().key_types = [key_type]
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
            keys.setdefault((key.get_name(), key.get_base64()), key)
        except (paramiko.SSHException, EOFError):
            continue  # the server has no key of this type
        finally:
            transport.close()
            sock.close()
    if not keys:
        raise OSError(f"{point.host}:{point.port} offered no host key we can read")
    return list(keys.values())


def compare(name: str, point: VantagePoint, keys: list[paramiko.PKey], file: Path) -> list[Seen]:
    import paramiko

    assert point.host is not None
    entry = point.host if point.port == 22 else f"[{point.host}]:{point.port}"
    known = paramiko.HostKeys()
    if file.exists():
        known.load(str(file))
    on_file: Mapping[str, paramiko.PKey] = known.lookup(entry) or {}
    out = []
    for key in keys:
        old = on_file.get(key.get_name())
        if old is None:
            out.append(Seen(name, entry, key, file, "new"))
        elif old.asbytes() == key.asbytes():
            out.append(Seen(name, entry, key, file, "known"))
        else:
            out.append(Seen(name, entry, key, file, "changed", fingerprint(old)))
    return out


def write_known_hosts(file: Path, seen: list[Seen]) -> None:
    """Append new keys (the file's other lines untouched); rewrite it to replace a
    changed one."""
    import paramiko

    file.parent.mkdir(parents=True, exist_ok=True)
    if any(s.state == "changed" for s in seen):
        known = paramiko.HostKeys(str(file))
        for s in seen:
            known.add(s.entry, s.key.get_name(), s.key)
        known.save(str(file))
        return
    text = file.read_text(encoding="utf-8") if file.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{s.entry} {s.key.get_name()} {s.key.get_base64()}\n" for s in seen)
    file.write_text(text, encoding="utf-8")


def _confirmed(wanted: list[Seen]) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            "standard input is not a terminal, so nobody can confirm: compare the "
            "fingerprints above with the hosts' administrators, then run again with --yes"
        )
    answer = input(f"Trust these {len(wanted)} key(s) and write them? [y/N] ")
    return answer.strip().lower() in ("y", "yes")

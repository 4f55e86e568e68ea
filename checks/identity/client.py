"""LDAP plumbing for the identity family: connect (TLS verified), bind, paged search.

Every operation sent is counted in :data:`OPERATIONS` per directory id, so tests and
the benchmark can prove the number of searches does not grow with the staff count.
Failures become :class:`DirectoryError` with a stable ``code`` (unreachable, timeout,
tls, bind, referral, size-limit, ...) and a message free of secrets.
"""

from __future__ import annotations

import math
import ssl
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness.secrets import Secret

from .config import split_ldap_url

__all__ = ["OPERATIONS", "DirectoryError", "Endpoint", "LdapSession", "SearchResult"]


class OpCounter:
    """Thread-safe count of LDAP operations per (directory, operation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, directory: str, op: str) -> None:
        with self._lock:
            self.counts[(directory, op)] += 1

    def total(self, directory: str | None = None, op: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (d, o), n in self.counts.items()
                if (directory is None or d == directory) and (op is None or o == op)
            )

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


OPERATIONS = OpCounter()


class DirectoryError(Exception):
    """The directory could not be asked; ``code`` is a stable key for root causes."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # ldap | ldaps
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        try:
            return cls(*split_ldap_url(url))
        except ValueError as exc:
            raise DirectoryError("config", f"{url}: {exc}") from None

    @property
    def server_key(self) -> str:
        return f"ldap:{self.host}:{self.port}"


@dataclass
class SearchResult:
    entries: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


_RESULT_CODES = {
    3: ("timeout", "the directory's time limit was exceeded"),
    4: (
        "size-limit",
        "the directory's size limit was exceeded (the service account needs "
        "an unlimited size limit for paged searches)",
    ),
    10: ("referral", "the directory answered with a referral instead of entries"),
    11: ("admin-limit", "an administrative limit was exceeded"),
    32: ("no-such-object", "the search base does not exist"),
    50: ("access", "the service account may not read this part of the directory"),
    51: ("busy", "the directory is busy"),
    52: ("unavailable", "the directory is unavailable"),
}


class LdapSession:
    """One connection: TLS as configured, a simple bind, counted operations."""

    def __init__(
        self,
        directory_id: str,
        endpoint: Endpoint,
        address: str,
        *,
        start_tls: bool,
        ca_file: str | None,
        tls_verify: bool,
        allow_cleartext: bool,
        timeout: float,
    ) -> None:
        self.directory_id = directory_id
        self.endpoint = endpoint
        self.address = address
        self.start_tls = start_tls
        self.ca_file = ca_file
        self.tls_verify = tls_verify
        self.allow_cleartext = allow_cleartext
        self.timeout = timeout
        self.conn: Any = None
        self.encrypted = False

    @property
    def where(self) -> str:
        return f"{self.endpoint.scheme}://{self.endpoint.host}:{self.endpoint.port}"

    def _count(self, op: str) -> None:
        OPERATIONS.add(self.directory_id, op)

    def open(self) -> None:
        """Connect and secure the connection (StartTLS or LDAPS); no bind yet."""
        import ldap3
        from ldap3.core import exceptions as lx

        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if self.tls_verify else ssl.CERT_NONE,
            ca_certs_file=self.ca_file,
            valid_names=[self.endpoint.host],
            sni=None if _is_ip(self.endpoint.host) else self.endpoint.host,
        )
        server = ldap3.Server(
            self.address,
            port=self.endpoint.port,
            use_ssl=self.endpoint.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
        )
        self.conn = ldap3.Connection(
            server,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
            receive_timeout=max(1, math.ceil(self.timeout)),
            return_empty_attributes=False,
            check_names=False,
            client_strategy=ldap3.SYNC,
        )
        _fast_entries(self.conn)
        try:
            self.conn.open()
            self.encrypted = self.endpoint.scheme == "ldaps"
            if self.start_tls and not self.encrypted:
                self._count("starttls")
                if not self.conn.start_tls():
                    raise DirectoryError(
                        "tls",
                        f"StartTLS refused by {self.where}: "
                        f"{self.conn.result.get('description', '')}",
                        "enable StartTLS on the server or use an ldaps:// URL",
                    )
                self.encrypted = True
        except DirectoryError:
            self.close()
            raise
        except (
            lx.LDAPSocketOpenError,
            lx.LDAPSocketReceiveError,
            lx.LDAPSocketSendError,
            lx.LDAPStartTLSError,
            lx.LDAPCertificateError,
            lx.LDAPSSLConfigurationError,
            lx.LDAPCommunicationError,
            lx.LDAPSessionTerminatedByServerError,
            OSError,
        ) as exc:
            self.close()
            raise classify(exc, self.where) from None

    def bind(self, dn: str, password: Secret) -> dict[str, Any]:
        """A simple bind; returns ldap3's result dict (never raises for result codes)."""
        import ldap3
        from ldap3.core import exceptions as lx

        if not self.encrypted and not self.allow_cleartext:
            raise DirectoryError(
                "cleartext",
                f"refusing a cleartext simple bind to {self.where}: the password "
                "would cross the network unencrypted",
                "use an ldaps:// URL or start_tls: true; set allow_cleartext_bind: true only "
                "for a lab directory",
            )
        self.conn.user = dn
        self.conn.password = password.reveal()
        self.conn.authentication = ldap3.SIMPLE
        self._count("bind")
        try:
            self.conn.bind(controls=[("1.3.6.1.4.1.42.2.27.8.5.1", False, None)])
        except (
            lx.LDAPSocketReceiveError,
            lx.LDAPSocketSendError,
            lx.LDAPCommunicationError,
            lx.LDAPSessionTerminatedByServerError,
            OSError,
        ) as exc:
            raise classify(exc, self.where) from None
        finally:
            self.conn.password = None
        return dict(self.conn.result)

    def search(
        self,
        base: str,
        filt: str,
        attributes: Sequence[str],
        *,
        page_size: int,
        scope: str = "SUBTREE",
    ) -> SearchResult:
        """A paged search; raises DirectoryError for any result but success."""
        import ldap3
        from ldap3.core import exceptions as lx

        out = SearchResult()
        cookie: Any = None
        ldap_scope = {"SUBTREE": ldap3.SUBTREE, "BASE": ldap3.BASE, "LEVEL": ldap3.LEVEL}[scope]
        first = True
        while True:
            # One logical search ("search") and its further pages ("page"): both are
            # LDAP operations on the wire.
            self._count("search" if first else "page")
            first = False
            try:
                self.conn.search(
                    base,
                    filt,
                    ldap_scope,
                    attributes=list(attributes),
                    paged_size=page_size if scope != "BASE" else None,
                    paged_cookie=cookie,
                    time_limit=int(self.timeout) + 1,
                )
            except (
                lx.LDAPSocketReceiveError,
                lx.LDAPSocketSendError,
                lx.LDAPCommunicationError,
                lx.LDAPSessionTerminatedByServerError,
                lx.LDAPResponseTimeoutError,
                OSError,
            ) as exc:
                raise classify(exc, self.where) from None
            result = self.conn.result
            code = int(result.get("result", 0))
            if code == 32 and scope == "BASE":
                return out
            if code != 0:
                key, text = _RESULT_CODES.get(code, ("ldap-error", "the search failed"))
                refs = result.get("referrals") or []
                detail = f" (referral to {', '.join(refs)})" if refs else ""
                raise DirectoryError(
                    key,
                    f"search of {base} on {self.where}: {text}: "
                    f"{result.get('description', '')} {result.get('message', '')}".strip()
                    + detail,
                    _hint_for(key),
                )
            for item in self.conn.response or ():
                kind = item.get("type")
                if kind == "searchResEntry":
                    out.entries.append((item["dn"], item["attributes"]))
                elif kind == "searchResRef":
                    out.references.extend(item.get("uri") or [])
            controls = result.get("controls") or {}
            paged = controls.get("1.2.840.113556.1.4.319", {}).get("value", {})
            cookie = paged.get("cookie")
            if not cookie or scope == "BASE":
                return out

    def close(self) -> None:
        if self.conn is not None:
            try:
                if self.conn.bound or not self.conn.closed:
                    self.conn.unbind()
            except Exception:  # noqa: S110 - closing a broken connection
                pass
            self.conn = None


def _fast_entries(conn: Any) -> None:
    """Decode search entries of this connection straight into plain dicts with
    lower-cased attribute names and ``str`` values, skipping ldap3's double
    (raw + formatted, case-insensitive) dictionaries: about twice as fast for 10,000
    entries. Only this connection's strategy instance is changed."""
    strategy = conn.strategy
    original = strategy.decode_response_fast

    def decode(message: dict[str, Any]) -> dict[str, Any]:
        if message["protocolOp"] != 4 or message.get("controls"):
            return original(message)  # type: ignore[no-any-return]
        payload = message["payload"]
        attrs: dict[str, list[str]] = {}
        for attribute in payload[1][3]:
            name = bytes(attribute[3][0][3]).decode("utf-8").lower()
            if name == "objectguid":  # binary: kept as AD shows it, not as mangled text
                attrs[name] = [_guid(bytes(v[3])) for v in attribute[3][1][3]]
                continue
            attrs[name] = [bytes(v[3]).decode("utf-8", "replace") for v in attribute[3][1][3] if v]
        return {
            "type": "searchResEntry",
            "dn": bytes(payload[0][3]).decode("utf-8"),
            "attributes": attrs,
            "raw_attributes": {},
        }

    strategy.decode_response_fast = decode


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)) if len(raw) == 16 else raw.hex()


def _hint_for(code: str) -> str:
    return {
        "size-limit": "raise the service account's size limit (slapd: limits dn.exact=... "
        "size=unlimited; AD: MaxPageSize/MaxResultSetSize) or lower page_size",
        "timeout": "check the server's load and indexes; raise the directory's timeout",
        "referral": "point people_base/groups_base at the server that holds the entries",
        "no-such-object": "check base_dn/people_base/groups_base in the inventory",
        "access": "give the read-only service account read access (ACL) to people, groups, "
        "policies and the ppolicy operational attributes",
    }.get(code, "check the directory server and the inventory's directory settings")


def classify(exc: BaseException, where: str) -> DirectoryError:
    """Map a connection-level exception to a DirectoryError (never includes secrets)."""
    text = str(exc)
    lowered = text.lower()
    name = type(exc).__name__
    if "timed out" in lowered or "timeout" in name.lower() or isinstance(exc, TimeoutError):
        return DirectoryError(
            "timeout",
            f"{where} did not answer in time ({name})",
            "check the server is up and not overloaded; the sweep's "
            "timeout for this directory is the `timeout` field",
        )
    if (
        "certificate" in lowered
        or "ssl" in lowered
        or "tls" in name.lower()
        or "certificate" in name.lower()
    ):
        return DirectoryError(
            "tls",
            f"TLS with {where} failed: {text[:300]}",
            "check the server certificate names the host in the URL and "
            "chains to the CA bundle (ca_bundle)",
        )
    if "refused" in lowered:
        return DirectoryError(
            "unreachable",
            f"{where} refused the connection",
            "check that the directory server is running and listening",
        )
    return DirectoryError(
        "unreachable",
        f"cannot reach {where}: {name}: {text[:300]}",
        "check the address, the route and firewalls to the directory",
    )


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True

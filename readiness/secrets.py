"""Secret references and the one type that holds a resolved secret.

An inventory never holds a secret, only a reference: ``env:NAME``, ``file:PATH`` or
``keyring:SERVICE/USERNAME``. Secrets are resolved late (when a probe needs them),
held in :class:`Secret`, which never prints its value, and are never stored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

from readiness.files import FileProblem, read_regular

REFERENCE = re.compile(r"^(env|file|keyring):(.+)$")
REFERENCE_HELP = "use a reference: env:NAME, file:PATH or keyring:SERVICE/USERNAME"


class SecretError(Exception):
    """A reference could not be resolved. The message never contains the secret."""


class Secret:
    """A resolved secret. ``str()`` and ``repr()`` show ``***``; ``reveal()`` gives the value."""

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str = "") -> None:
        self._value = value
        self.reference = reference

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference or '***'})"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> NoReturn:
        raise TypeError("secrets are never serialised")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


MAX_SECRET_BYTES = 64 * 1024  # a password or a private key; never a whole file system


def _read_secret_file(path: Path) -> str:
    """The secret in ``path`` (a small regular file, never a FIFO that would block the
    sweep); trailing newlines are not part of it."""
    try:
        raw = read_regular(path, MAX_SECRET_BYTES)
    except FileProblem as exc:
        raise SecretError(f"cannot read secret file {path}: {exc}") from None
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None


def is_reference(value: str) -> bool:
    return bool(REFERENCE.match(value))


def resolve(reference: str, secrets_dir: Path) -> Secret:
    """Resolve a reference. Relative ``file:`` paths resolve against ``secrets_dir``."""
    match = REFERENCE.match(reference)
    if not match:
        raise SecretError(f"not a secret reference; {REFERENCE_HELP}")
    scheme, rest = match.groups()
    if scheme == "env":
        if rest not in os.environ:
            raise SecretError(f"environment variable {rest} is not set ({reference})")
        return Secret(os.environ[rest], reference)
    if scheme == "file":
        path = Path(rest).expanduser()
        if not path.is_absolute():
            path = secrets_dir / path
        return Secret(_read_secret_file(path), reference)
    service, _, username = rest.partition("/")
    if not username:
        raise SecretError(f"keyring reference needs SERVICE/USERNAME ({reference})")
    try:
        import keyring
    except ImportError:
        raise SecretError(
            "keyring references need the optional extra: pip install 'day1-readiness[keyring]'"
        ) from None
    value = keyring.get_password(service, username)
    if value is None:
        raise SecretError(f"no keyring entry for {service}/{username} ({reference})")
    return Secret(value, reference)

"""Secret references: env, file and keyring (a real file-backed keyring backend), and a
resolved secret that never prints itself."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from readiness.secrets import Secret, SecretError, resolve


def test_env_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOT_PW", "s3cret-env")
    assert resolve("env:PILOT_PW", tmp_path).reveal() == "s3cret-env"
    (tmp_path / "pw.secret").write_text("s3cret-file\n", encoding="utf-8")
    assert resolve("file:pw.secret", tmp_path).reveal() == "s3cret-file"
    assert resolve(f"file:{tmp_path / 'pw.secret'}", Path("/")).reveal() == "s3cret-file"


def test_unresolvable_references_say_why_without_values(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="environment variable NOPE_NOT_SET is not set"):
        resolve("env:NOPE_NOT_SET", tmp_path)
    with pytest.raises(SecretError, match="cannot read secret file"):
        resolve("file:missing.secret", tmp_path)
    with pytest.raises(SecretError, match="not a secret reference"):
        resolve("hunter2", tmp_path)


def test_secret_never_prints_or_pickles() -> None:
    secret = Secret("Winter2026!", "env:X")
    for text in (str(secret), repr(secret), f"{secret}", f"{secret!r}", "%s" % secret):  # noqa: UP031
        assert "Winter2026!" not in text
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_keyring_reference_with_a_file_backed_keyring(tmp_path: Path) -> None:
    """A server has no desktop keyring: keyrings.alt's file backend stands in, for real."""
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path),
        "HOME": str(tmp_path),
    }
    script = (
        "import keyring; from pathlib import Path; from readiness.secrets import resolve\n"
        "keyring.set_password('readiness-lab', 'pilot1', 'kr-s3cret')\n"
        "s = resolve('keyring:readiness-lab/pilot1', Path('.'))\n"
        "print(s.reveal() == 'kr-s3cret', s)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "***"]

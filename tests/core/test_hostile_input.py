"""Hostile and broken input: huge files, deep nesting, YAML aliases that expand, very long
lines, NUL bytes, a CSV with a million columns, a symlink loop, a FIFO or a folder where a
file should be. Each is refused by the command line with a clear message and exit 2,
never a traceback or a hang; property-based tests throw random input at the loader, the
validator and the CSV reader."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.inventory import InventoryError, load
from readiness.inventory.loader import MAX_FILE_BYTES, load_yaml, read_csv
from readiness.secrets import SecretError, resolve

PROGRAMME = "programme: {name: x, go_live: 2027-01-04}\n"


def validate(path: Path, timeout: float = 60) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def refused(path: Path, says: str) -> str:
    code, out, seconds = validate(path)
    assert code == 2, out[-2000:]
    assert "Traceback" not in out
    assert says in out, out[-2000:]
    assert seconds < 30
    assert len(out) < 20_000, "the message must not echo the input"
    return out


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return folder


def test_deep_nesting(tmp_path: Path) -> None:
    flow = PROGRAMME + "roles: " + "[" * 5000 + "]" * 5000 + "\n"
    refused(write(tmp_path / "flow", "i.yaml", flow), "nesting depth")
    block = PROGRAMME + "roles:\n" + "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(200))
    refused(
        write(tmp_path / "block", "i.yaml", block + "  " * 201 + "x: 1\n"),
        "nested deeper than 64 levels",
    )


def test_aliases_that_expand(tmp_path: Path) -> None:
    lines = [PROGRAMME.strip(), "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]")
    refused(
        write(tmp_path / "bomb", "i.yaml", "\n".join(lines) + "\n"),
        "expands to more than 2,000,000 values",
    )
    loop = PROGRAMME + "roles: &r {clerk: {groups: *r}}\n"
    refused(write(tmp_path / "loop", "i.yaml", loop), "refers to a value that contains it")


def test_a_few_honest_aliases_are_fine(tmp_path: Path) -> None:
    text = PROGRAMME + (
        "organisations: {north: {name: N}}\n"
        "roles:\n  clerk: &clerk {groups: [a, b], mailbox: true}\n  clerk2: *clerk\n"
    )
    code, out, _ = validate(write(tmp_path / "ok", "i.yaml", text))
    assert code == 0, out


def test_huge_file_long_line_and_nul(tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    huge.mkdir()
    with (huge / "i.yaml").open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is really written
    refused(huge, "more than the 64 MiB allowed")
    long_line = PROGRAMME + "roles: {clerk: {description: " + "x" * 2_000_000 + "}}\n"
    refused(write(tmp_path / "long", "i.yaml", long_line), "line 2 is 2,000,031 characters long")
    refused(write(tmp_path / "nul", "i.yaml", PROGRAMME + "roles: {a\x00: {}}\n"), "malformed YAML")


def test_a_csv_with_a_million_columns(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "wide",
        "i.yaml",
        PROGRAMME
        + (
            "organisations: {o: {name: O}}\n"
            "staff_sources: [{file: hr.csv, organisation: o, columns: {id: Id, site: Site}}]\n"
        ),
    )
    header = ",".join(f"c{i}" for i in range(1_000_000))
    (folder / "hr.csv").write_text(header + "\n", encoding="utf-8")
    refused(folder, "hr.csv:1")


def test_a_csv_with_many_columns_is_explained_without_echoing_them(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "wide",
        "i.yaml",
        PROGRAMME
        + (
            "organisations: {o: {name: O}}\n"
            "staff_sources: [{file: hr.csv, organisation: o, columns: {id: Id, site: Site}}]\n"
        ),
    )
    (folder / "hr.csv").write_text(",".join(f"c{i}" for i in range(5000)) + "\n")
    refused(folder, "the header has 5,000 columns")


def test_a_symlink_loop(tmp_path: Path) -> None:
    folder = write(tmp_path / "inv", "i.yaml", PROGRAMME)
    (folder / "sub").mkdir()
    os.symlink("..", folder / "sub" / "back")
    refused(folder, "a symbolic link loops back to")


def test_a_fifo_or_a_folder_where_a_file_belongs(tmp_path: Path) -> None:
    folder = write(tmp_path / "inv", "i.yaml", PROGRAMME)
    os.mkfifo(folder / "z.yaml")
    refused(folder, "not a regular file")
    folder = write(
        tmp_path / "csv",
        "i.yaml",
        PROGRAMME
        + (
            "organisations: {o: {name: O}}\n"
            "staff_sources: [{file: hr.csv, organisation: o, columns: {id: Id, site: Site}}]\n"
        ),
    )
    (folder / "hr.csv").mkdir()
    refused(folder, "a folder, not a file")


def test_a_secret_file_that_is_a_fifo_a_folder_or_huge(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    with (tmp_path / "huge").open("wb") as fh:
        fh.truncate(10 * 1024 * 1024)
    for name, says in (
        ("fifo", "not a regular file"),
        ("folder", "a folder, not a file"),
        ("huge", "more than the 65,536 bytes allowed"),
    ):
        caught: list[Exception] = []
        reader = threading.Thread(target=_resolve_into, args=(name, tmp_path, caught), daemon=True)
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), f"reading the secret {name} hangs"
        assert caught and says in str(caught[0]), caught


def _resolve_into(name: str, folder: Path, caught: list[Exception]) -> None:
    try:
        resolve(f"file:{name}", folder)
    except SecretError as exc:
        caught.append(exc)


# ----------------------------------------------------------------------------- properties

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
sections = st.sampled_from(
    [
        "programme",
        "organisations",
        "sites",
        "roles",
        "staff",
        "staff_sources",
        "vantage_points",
        "applications",
        "network_resources",
        "mail_domains",
        "telephony_endpoints",
        "directories",
        "nonsense",
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=st.dictionaries(sections, values, max_size=6))
def test_any_yaml_document_is_loaded_or_explained(tmp_path: Path, doc: dict[str, object]) -> None:
    """Whatever the structure, loading gives an inventory or InventoryError, quickly."""
    from readiness.registry import load_families

    (tmp_path / "i.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    started = time.monotonic()
    try:
        load(tmp_path, load_families())
    except InventoryError as exc:
        assert all(p.where and p.message for p in exc.problems)
    assert time.monotonic() - started < 5


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400))
def test_any_bytes_as_yaml_or_csv_give_problems_not_crashes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    documents, problems = load_yaml(path)
    assert isinstance(documents, list) and all(p.where for p in problems)
    found = read_csv(path)
    if isinstance(found, tuple):
        _, rows = found
        try:
            list(rows)
        except Exception as exc:
            assert type(exc).__name__ == "CsvError"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: !!python/object/apply:os.system [x]", "is not allowed"),
        ("[[[[", "malformed YAML"),
        ("a: *nope", "malformed YAML"),
        ("a: 1\na: 2", "appears twice"),
        ("? [a, b]\n: c", "keys must be plain text"),
    ],
)
def test_odd_yaml_is_explained(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    documents, problems = load_yaml(path)
    assert documents == [] and len(problems) == 1 and says in problems[0].message, problems
    assert problems[0].where.startswith(f"{path}:")

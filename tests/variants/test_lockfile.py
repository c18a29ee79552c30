"""The fast lock reader gives exactly what tomllib gives, minus the per-file hash arrays."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from slipway.variants.lockfile import _trim_poetry, _trim_uv, fast_parse, load_lock
from slipway.variants.markers import Target, evaluate
from tests.variants.oracle import CORPUS

LOCKS = sorted(p for p in CORPUS.glob("*/*.lock"))


def without_file_lists(data: dict[str, Any], kind: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for pkg in data.get("package", []):
        src = pkg.get("source", {}) or {}
        keep = ("url" in src or "path" in src) if kind == "uv" else src.get("type") in ("url", "file")
        if not keep:
            for key in ("files", "wheels", "sdist"):
                pkg.pop(key, None)
    meta = data.get("metadata", {})
    if kind == "poetry" and "files" in meta and not any(
            (p.get("source") or {}).get("type") in ("url", "file") for p in data.get("package", [])):
        meta.pop("files")
    return data


@pytest.mark.parametrize("lock", LOCKS, ids=[p.parent.name for p in LOCKS])
def test_fast_reader_equals_tomllib(lock: Path) -> None:
    kind = "uv" if lock.name == "uv.lock" else "poetry"
    text = lock.read_text()
    full = tomllib.loads(text)
    trimmed = (_trim_uv if kind == "uv" else _trim_poetry)(text)
    assert fast_parse(trimmed) == tomllib.loads(trimmed)  # the fast path is taken and exact
    assert load_lock(lock, kind) == without_file_lists(full, kind)


def test_reformatted_lock_falls_back_to_tomllib(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "a"\nversion = """1.0"""\nsource = {registry="x"}\n')
    assert load_lock(lock, "uv")["package"][0]["version"] == "1.0"


@pytest.mark.parametrize(("marker", "target", "extras", "expected"), [
    ('python_version >= "3.12"', "3.12", (), True),
    ('python_version >= "3.12"', "3.11", (), False),
    ("python_full_version >= '3.11.4'", "3.11", (), False),
    ("python_full_version >= '3.11.4'", "3.11.7", (), True),
    ("python_full_version == '3.11.*'", "3.11", (), True),
    ('sys_platform == "win32" or platform_machine == "x86_64"', "3.12", (), True),
    ("platform_machine == 'aarch64' and sys_platform == 'linux'", "3.12", (), False),
    ('extra == "ml"', "3.12", ("ml",), True),
    ('extra == "ml"', "3.12", (), False),
    ("extra != 'extra-8-nanochat-cpu' and extra == 'extra-8-nanochat-gpu'", "3.12", ("extra-8-nanochat-gpu",), True),
    ('(python_version < "3.9" or extra == "x") and os_name == "posix"', "3.12", None, False),
    ('extra == "x" and os_name == "posix"', "3.12", None, True),
    ('python_version < "3.9" or extra == "x"', "3.12", None, False),
    ('"linux" in sys_platform', "3.12", (), True),
    ("platform_python_implementation != 'PyPy'", "3.12", (), True),
    ('python_version <= "3.13.0"', "3.13", (), True),
])
def test_markers_for_the_target(marker: str, target: str, extras: tuple[str, ...] | None, expected: bool) -> None:
    assert evaluate(marker, Target(python=target), extras) is expected


UV_LOCKS = [p for p in LOCKS if p.name == "uv.lock"]


@pytest.mark.parametrize("lock", UV_LOCKS, ids=[p.parent.name for p in UV_LOCKS])
def test_uv_block_reader_equals_tomllib_on_every_block(lock: Path) -> None:
    from slipway.variants.lockfile import parse_uv_package, trim_uv_block

    for block in lock.read_text().split("\n[[package]]\n")[1:]:
        trimmed = trim_uv_block(block.strip("\n") + "\n")
        assert parse_uv_package(trimmed) == tomllib.loads("[[package]]\n" + trimmed)["package"][0], block[:80]


def test_uv_block_reader_refuses_what_it_does_not_know() -> None:
    from slipway.variants.lockfile import _Unsupported, parse_uv_package

    for block in ('name = "a"\nversion = """1"""\n', 'name = "a"\ndependencies = [\n    { name = "b" }\n]\n',
                  'name = "a"\n[package.other]\nx = "1"\n', 'name = "a"\nsource = {registry="x"}\n',
                  'name = "a"\nname = "b"\n', 'name = "a"\ndependencies = [\n    { name = "b" },\n'):
        with pytest.raises(_Unsupported):
            parse_uv_package(block)

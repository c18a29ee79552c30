"""Synthetic projects locked by the real tools (the pinned ``uv lock`` / ``poetry lock`` of oracle.py).

A test describes a project as ``{relative path: text}``; :func:`locked_project` writes it, locks it
once with the real tool against PyPI and keeps the lock under the tests' CACHE, keyed by the tool
pins and the files, so reruns do not resolve again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.harness.procs import CACHE
from tests.variants.oracle import PINS, Tools

SYNTH = CACHE / "variants-synth"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _lock(kind: str, tools: Tools, work: Path) -> None:
    env = {**os.environ, "UV_CACHE_DIR": str(SYNTH / "uv-cache"), "UV_NO_CONFIG": "1", "NO_COLOR": "1",
           "POETRY_CACHE_DIR": str(SYNTH / "poetry-cache"), "POETRY_NO_INTERACTION": "1",
           "POETRY_VIRTUALENVS_CREATE": "false", "HOME": str(work.parent / "home")}
    env.pop("VIRTUAL_ENV", None)
    argv = [str(tools.uv), "lock", "-q"] if kind == "uv" else [str(tools.poetry), "lock", "--no-ansi"]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(argv[1:])}` of a synthetic project failed (PyPI is needed the first time; "
                    f"the lock is cached in {SYNTH}):\n{proc.stderr[-2000:]}", pytrace=False)


def locked_project(kind: str, files: dict[str, str], dest: Path, tools: Tools) -> Path:
    """``files`` written to ``dest`` with their lock (``uv.lock`` or ``poetry.lock``) beside them."""
    lock_name = "uv.lock" if kind == "uv" else "poetry.lock"
    key = hashlib.sha256(json.dumps([kind, PINS, sorted(files.items())]).encode()).hexdigest()[:20]
    cached = SYNTH / f"{kind}-{key}.lock"
    if not cached.exists():
        SYNTH.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=SYNTH) as tmp:
            work = write_tree(Path(tmp) / "project", files)
            _lock(kind, tools, work)
            shutil.copyfile(work / lock_name, Path(tmp) / lock_name)
            os.replace(Path(tmp) / lock_name, cached)
    write_tree(dest, files)
    shutil.copyfile(cached, dest / lock_name)
    return dest

"""The oracles: real ``poetry export`` (poetry-plugin-export) and ``uv export``, pinned.

Installed by the test set-up into a tool venv under the tests' CACHE (made with ``uv venv`` +
``uv pip install``), never into the project's venv. Their output is a requirements file whose
markers we evaluate for the target, exactly as pip in the image would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from packaging.utils import canonicalize_name

from slipway.variants.markers import Target, evaluate
from tests.harness.procs import CACHE, REPO

PINS = ("poetry==2.5.1", "poetry-plugin-export==1.10.1", "uv==0.13.9")
TOOLS = CACHE / ("oracle-tools-" + "-".join(p.replace("==", "") for p in PINS))
CORPUS = (REPO / ".." / "shared" / "lockcorpus").resolve()


@dataclass(frozen=True)
class Tools:
    poetry: Path
    uv: Path


def ensure_tools() -> Tools:
    poetry, uv = TOOLS / "bin" / "poetry", TOOLS / "bin" / "uv"
    done = TOOLS / ".complete"
    if done.exists():
        return Tools(poetry, uv)
    bootstrap_uv = shutil.which("uv") or str(REPO / ".venv" / "bin" / "uv")
    if not os.access(bootstrap_uv, os.X_OK):
        pytest.fail("uv is not on PATH: scripts/bootstrap.sh installs it (needed to build the oracle tools)",
                    pytrace=False)
    shutil.rmtree(TOOLS, ignore_errors=True)
    steps = [[bootstrap_uv, "venv", "-q", "-p", "3.11", str(TOOLS)],
             [bootstrap_uv, "pip", "install", "-q", "-p", str(TOOLS / "bin" / "python"), *PINS]]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"installing the oracle tools {PINS} from PyPI failed: {' '.join(argv)}\n"
                        f"{proc.stderr[-2000:]}", pytrace=False)
    done.write_text("\n".join(PINS) + "\n")
    return Tools(poetry, uv)


@dataclass(frozen=True)
class Export:
    ok: bool
    text: str  # stdout when ok, stderr otherwise


def run_export(tools: Tools, kind: str, project: Path, groups: tuple[str, ...], extras: tuple[str, ...],
               all_extras: bool, scratch: Path) -> Export:
    env = {**os.environ, "POETRY_CACHE_DIR": str(scratch / "poetry-cache"), "UV_CACHE_DIR": str(scratch / "uv-cache"),
           "UV_NO_CONFIG": "1", "UV_OFFLINE": "1", "POETRY_VIRTUALENVS_CREATE": "false",
           "HOME": str(scratch / "home"), "NO_COLOR": "1", "POETRY_NO_INTERACTION": "1"}
    if kind == "poetry":
        argv = [str(tools.poetry), "export", "--without-hashes", "-f", "requirements.txt", "--no-ansi",
                "--only", ",".join(("main", *groups))]
        argv += ["--all-extras"] if all_extras else [a for e in extras for a in ("-E", e)]
    else:
        argv = [str(tools.uv), "export", "--frozen", "--no-hashes", "--no-annotate", "--no-header",
                "--no-default-groups"]
        argv += [a for g in groups for a in ("--group", g)]
        argv += ["--all-extras"] if all_extras else [a for e in extras for a in ("--extra", e)]
    proc = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        return Export(False, proc.stderr.strip() or proc.stdout.strip())
    return Export(True, proc.stdout)


def run_poetry_batch(tools: Tools, project: Path, cases: list[dict[str, object]], scratch: Path) -> dict[str, Export]:
    """All cases of one poetry project in one poetry process (tests/variants/poetry_batch.py)."""
    import json

    env = {**os.environ, "POETRY_CACHE_DIR": str(scratch / "poetry-cache"), "HOME": str(scratch / "home"),
           "NO_COLOR": "1", "POETRY_NO_INTERACTION": "1", "POETRY_VIRTUALENVS_CREATE": "false"}
    script = Path(__file__).with_name("poetry_batch.py")
    proc = subprocess.run([str(tools.poetry.parent / "python"), str(script), str(project)], input=json.dumps(cases),
                          cwd=project, env=env, capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"poetry_batch failed for {project.name}: {proc.stderr[-3000:]}")
    data = json.loads(proc.stdout)
    return {label: Export(bool(v["ok"]), str(v["text"])) for label, v in data.items()}


def installed(export_text: str, target: Target, extras: set[str], project: Path) -> set[tuple[str, str]]:
    """What pip would install from an exported requirements file on ``target``.

    Registry pins give (name, version); direct references give (name, "@direct"); editable or path
    lines give ("path:<relative path>", "@direct").
    """
    out: set[tuple[str, str]] = set()
    for raw in export_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "--")):
            continue
        spec, _, marker = line.partition(" ; ")
        if not evaluate(marker.strip() or None, target, extras):
            continue
        spec = spec.strip()
        if spec.startswith("-e "):
            out.add((_path_key(spec[3:].strip(), project), "@direct"))
        elif " @ " in spec:
            name, _, ref = spec.partition(" @ ")
            if ref.startswith("file:"):
                out.add((_path_key(ref, project), "@direct"))
            else:
                out.add((canonicalize_name(name.split("[")[0]), "@direct"))
        elif "==" in spec:
            name, _, version = spec.partition("==")
            out.add((canonicalize_name(name.split("[")[0]), version.strip()))
        else:
            raise AssertionError(f"unexpected export line {line!r}")
    return out


def _path_key(ref: str, project: Path) -> str:
    path = Path(unquote(urlsplit(ref).path)) if ref.startswith("file:") else project / ref
    try:
        rel = os.path.relpath(path.resolve(), project.resolve())
    except ValueError:
        rel = str(path)
    return "path:" + Path(rel).as_posix()


def slipway_keys(packages: object, project: Path) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for p in packages:  # type: ignore[attr-defined]
        if p.source.kind == "registry":
            out.add((p.name, p.version))
        elif p.source.kind == "path":
            out.add((_path_key(p.source.ref, project), "@direct"))
        else:
            out.add((p.name, "@direct"))
    return out

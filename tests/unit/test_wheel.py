"""The distribution as a user installs it: ``uv build --wheel``, then the wheel with its extras in a fresh
venv (the project's lock as constraints), and ``slipway`` run from a directory outside the repository.

Venvs are cached per wheel hash under ~/.cache/slipway-tests (a changed package makes a new one and
the old ones are removed), so a rerun on the same code takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CACHE = Path.home() / ".cache" / "slipway-tests"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DIST = PYPROJECT["project"]["name"]
EXTRAS = sorted(PYPROJECT["project"]["optional-dependencies"])


def _uv() -> str:
    uv = shutil.which("uv", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert uv, "uv is needed (scripts/bootstrap.sh installs it)"
    return uv


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(argv)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _outside_env(venv: Path) -> dict[str, str]:
    """The venv's bin first and nothing of the repository: no project venv, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(REPO))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--wheel", "--out-dir", str(out), str(REPO)], cwd=REPO)
    (whl,) = out.glob("*.whl")
    return whl


def _venv(wheel: Path, extras: list[str], work: Path) -> Path:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    kind = "-".join(extras) or "core"
    venv = CACHE / f"wheel-{kind}-{digest}"
    if (venv / ".complete").exists():
        return venv
    for old in CACHE.glob(f"wheel-{kind}-*"):
        shutil.rmtree(old, ignore_errors=True)
    constraints = work / f"constraints-{kind}.txt"
    _run([_uv(), "export", "--frozen", "--no-hashes", "--all-extras", "--no-default-groups", "--no-emit-project",
          "-q", "-o", str(constraints)], cwd=REPO)
    shutil.rmtree(venv, ignore_errors=True)  # a venv without the marker is half made
    _run([_uv(), "venv", "-q", "--python", sys.executable, str(venv)], cwd=work)
    spec = f"{DIST}[{','.join(extras)}] @ {wheel.as_uri()}" if extras else f"{DIST} @ {wheel.as_uri()}"
    _run([_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-c", str(constraints), spec],
         cwd=work, env={**os.environ, "VIRTUAL_ENV": str(venv)})
    (venv / ".complete").write_text(wheel.name + "\n")
    return venv


@pytest.fixture(scope="module")
def core_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(wheel, [], tmp_path_factory.mktemp("venv-core"))


@pytest.fixture(scope="module")
def full_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(wheel, EXTRAS, tmp_path_factory.mktemp("venv-full"))


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project outside the repository, locked with uv."""
    d = tmp_path_factory.mktemp("user-project")
    (d / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["packaging==24.2"]\n\n'
        '[dependency-groups]\ntrain = ["six==1.17.0"]\n\n'
        '[tool.slipway.variants.ml]\ngroups = ["train"]\n')
    _run([_uv(), "lock", "-q", "--python", sys.executable], cwd=d)
    assert (d / "uv.lock").exists()
    return d


def _slipway(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([str(venv / "bin" / "slipway"), *args], cwd=cwd, env=_outside_env(venv), timeout=300)


def test_wheel_holds_the_package(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "slipway/py.typed" in names and "slipway/cli.py" in names and "slipway/data/vessel-init.sh" in names
    assert not [n for n in names if n.startswith(("tests/", "plugins/", "pulumi/", "roles/"))]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Name: {DIST}" in meta and "License-File: LICENSE" in meta


@pytest.mark.slow
def test_core_install_runs_outside_the_repository(core_venv: Path, user_project: Path) -> None:
    """CI-only users: no ansible-core, no Pulumi, yet `slipway` and `variants hash` work."""
    py = str(core_venv / "bin" / "python")
    where = _run([py, "-c", "import slipway, sys; print(slipway.__file__)"], cwd=user_project,
                 env=_outside_env(core_venv)).stdout.strip()
    assert where.startswith(str(core_venv)), where
    missing = _run([py, "-c", "import importlib.util as u; print([m for m in ('ansible', 'pulumi', 'prefect') "
                              "if u.find_spec(m)])"], cwd=user_project, env=_outside_env(core_venv))
    assert missing.stdout.strip() == "[]"
    out = _slipway(core_venv, ["--help"], user_project).stdout
    assert "variants" in out and "images" in out
    hashes = _slipway(core_venv, ["variants", "hash", "--project", "."], user_project).stdout
    assert "base" in hashes and "ml" in hashes, hashes


@pytest.mark.slow
def test_full_install_runs_outside_the_repository(full_venv: Path, user_project: Path, tmp_path: Path) -> None:
    out = _slipway(full_venv, ["--help"], user_project).stdout
    for group in ("vessels", "variants", "images", "cloud", "undertaker"):
        assert group in out
    base = _slipway(full_venv, ["variants", "hash", "--project", "."], user_project).stdout
    assert re.search(r"\bml\b", base), base
    ansible = _run([str(full_venv / "bin" / "ansible-doc"), "--version"], cwd=tmp_path, env=_outside_env(full_venv))
    assert "ansible-doc [core 2." in ansible.stdout
    # `slipway cloud check` from a stack folder of the user's (the current directory is the default)
    stack_dir = tmp_path / "infra"
    stack_dir.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / "pulumi" / name, stack_dir / name)
    checked = _slipway(full_venv, ["cloud", "check", "--stack", "dev"], stack_dir).stdout
    assert "stack dev: config is valid" in checked


@pytest.mark.slow
def test_example_pulumi_program_from_the_installed_package(full_venv: Path, tmp_path: Path) -> None:
    """examples/pulumi, copied out of the repository, builds Slipway's components under Pulumi mocks."""
    program = tmp_path / "team-gpu"
    shutil.copytree(REPO / "examples" / "pulumi", program)
    (tmp_path / "drive.py").write_text(DRIVER)
    res = _run([str(full_venv / "bin" / "python"), str(tmp_path / "drive.py"), str(program)], cwd=tmp_path,
               env=_outside_env(full_venv), timeout=300)
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["slipway_from"].startswith(str(full_venv)), got["slipway_from"]
    assert {"slipway:aws:ImageRegistry", "slipway:aws:BatchCompute"} <= set(got["types"])
    assert sorted(got["repositories"]) == ["vision/detector", "vision/segmenter"]
    assert set(got["exports"]) == {"repositoryUrls", "jobQueueArns", "jobDefinitions"}


DRIVER = '''
"""Run a Pulumi program under Pulumi's mocks with its Pulumi.dev.yaml; print what it registered."""
import asyncio, json, runpy, sys
from pathlib import Path

import pulumi
import yaml

program = Path(sys.argv[1])
project = yaml.safe_load((program / "Pulumi.yaml").read_text())["name"]
types, repositories, exports = [], [], {}


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        types.append(args.typ)
        state = dict(args.inputs, arn=f"arn:aws:x:eu-west-1:123456789012:{args.name}")
        if args.typ == "aws:ecr/repository:Repository":
            repositories.append(args.inputs["name"])
            state["repository_url"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + args.inputs["name"]
        return f"{args.name}-id", state

    def call(self, args):
        return {"name": args.args["name"], "value": "ami-0fedcba9876543210", "type": "String", "arn": "x",
                "id": "x", "version": 1, "insecure_value": "ami-0fedcba9876543210", "with_decryption": True}, []


class Monitor(pulumi.runtime.mocks.MockMonitor):
    def RegisterResource(self, request):
        types.append(request.type)
        return super().RegisterResource(request)


asyncio.set_event_loop(asyncio.new_event_loop())
mocks = Mocks()
pulumi.runtime.set_mocks(mocks, project=project, stack="dev", preview=False, monitor=Monitor(mocks))
config = yaml.safe_load((program / "Pulumi.dev.yaml").read_text())["config"]
pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, [])
pulumi.export = lambda k, v: exports.__setitem__(k, v)


@pulumi.runtime.test
def run():
    runpy.run_path(str(program / "__main__.py"), run_name="__main__")
    return pulumi.Output.all(**{k: pulumi.Output.from_input(v) for k, v in exports.items()})


run()
import slipway

print(json.dumps({"types": sorted(set(types)), "repositories": repositories, "exports": sorted(exports),
                  "slipway_from": slipway.__file__}))
'''


INSTALL = re.compile(r"(?:uv tool install|uv pip install|pip install|pipx install|uv add)\s+(?:-\S+\s+)*"
                     r"[\"']?([A-Za-z0-9_.-]*slipway[A-Za-z0-9_.-]*)(\[[a-z,]+\])?")


def test_install_lines_install_our_distribution() -> None:
    """README, docs and examples install `slipway-infra` (PyPI's `slipway` is someone else's), with
    extras the package has: the ones the full install above exercises."""
    files = [REPO / "README.md", REPO / "CONTRIBUTING.md", *REPO.glob("docs/**/*.md"), *REPO.glob("examples/**/*.*")]
    found = [(f.relative_to(REPO), m[1], m[2]) for f in files if f.is_file()
             for m in INSTALL.finditer(f.read_text(errors="replace"))]
    assert found, "no install line found"
    for path, dist, extras in found:
        assert dist == DIST, f"{path}: installs {dist!r}"
        assert set((extras or "[]")[1:-1].split(",")) - {""} <= set(EXTRAS), f"{path}: unknown extra {extras}"
    assert any(str(p) == "README.md" for p, _, _ in found)

"""A tiny uv project whose dependencies are wheels built here (pip needs no network in builds)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.variants.oracle import ensure_tools

PYPROJECT = """[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["alpha=={alpha}"]

[project.optional-dependencies]
ml = ["beta==1.0"]

[dependency-groups]
dev = ["gamma=={gamma}"]
exp = [{exp}]

[tool.uv]
no-index = true
find-links = ["wheels"]

[tool.slipway]
python = "3.11"

[tool.slipway.variants.ml]
extends = "base"
extras = ["ml"]

[tool.slipway.variants.dev]
extends = "base"
groups = ["dev"]
"""


def wheel(dest: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist}/METADATA": "Metadata-Version: 2.1\n"
                            f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: slipway-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    out = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            zf.writestr(info, text)
    return out


def make_demo(project: Path, *, alpha: str = "1.0", gamma: str = "1.0", exp: tuple[str, ...] = ()) -> Path:
    wheels = project / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for name, version, req in [("alpha", "1.0", ()), ("alpha", "1.1", ()), ("beta", "1.0", ("alpha",)),
                               ("gamma", "1.0", ()), ("gamma", "1.1", ()), ("delta", "1.0", ())]:
        if not (wheels / f"{name}-{version}-py3-none-any.whl").exists():
            wheel(wheels, name, version, req)
    (project / "demo").mkdir(exist_ok=True)
    (project / "demo" / "__init__.py").write_text("GREETING = 'hello from demo'\n")
    (project / "pyproject.toml").write_text(PYPROJECT.format(
        alpha=alpha, gamma=gamma, exp=", ".join(f'"{e}"' for e in exp)))
    relock(project)
    return project


def relock(project: Path) -> None:
    uv = ensure_tools().uv
    proc = subprocess.run([str(uv), "lock", "--offline"], cwd=project, capture_output=True,
                          text=True, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(project / ".home"),
                                                       "UV_CACHE_DIR": str(project / ".uv-cache")})
    if proc.returncode != 0:
        raise AssertionError(f"uv lock failed: {proc.stderr}")
    shutil.rmtree(project / ".uv-cache", ignore_errors=True)
    shutil.rmtree(project / ".home", ignore_errors=True)

"""`slipway variants resolve|hash` and bad input: clear errors naming the field, non-zero exits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipway.variants.cli import variants
from slipway.variants.hashing import HASHES_FILE
from tests.images.demo import make_demo
from tests.variants.oracle import CORPUS


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return make_demo(tmp_path / "demo")


def invoke(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(variants, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_resolve_json_lists_name_version_source(demo: Path) -> None:
    code, out, _ = invoke("resolve", "--project", str(demo), "--extras", "ml", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["target"] == {"python": "3.11", "platform": "linux", "machine": "x86_64"}
    assert [(p["name"], p["version"]) for p in data["packages"]] == [("alpha", "1.0"), ("beta", "1.0")]
    assert data["packages"][0]["source"] == "registry+wheels"
    code, out, _ = invoke("resolve", "--project", str(demo), "--groups", "dev", "--python", "3.12", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)["packages"]] == ["alpha", "gamma"]


def test_resolve_a_real_poetry_lock_with_a_cuda_index() -> None:
    code, out, err = invoke("resolve", "--project", str(CORPUS / "huggingface__text-generation-inference-legacysrc"),
                            "--python", "3.11", "--extras", "accelerate", "--json")
    assert code == 0, err
    torch = [p for p in json.loads(out)["packages"] if p["name"] == "torch"]
    assert torch and torch[0]["source"].startswith("registry+https://download.pytorch.org")


def test_hash_write_then_check(demo: Path) -> None:
    code, _, err = invoke("hash", "--project", str(demo), "--check")
    assert code == 1 and f"{HASHES_FILE} is stale" in err
    code, out, _ = invoke("hash", "--project", str(demo), "--write")
    assert code == 0
    lines = out.split("\n")
    assert [line.split()[0] for line in lines if line] == ["base", "dev", "ml"]
    written = json.loads((demo / HASHES_FILE).read_text())
    assert written["variants"]["base"] == lines[0].split()[1]
    assert invoke("hash", "--project", str(demo), "--check")[0] == 0
    # a dev-only bump makes the file stale for dev only
    make_demo(demo, gamma="1.1")
    code, _, err = invoke("hash", "--project", str(demo), "--check")
    assert code == 1 and "stale for variant(s) dev:" in err
    # the exp group never makes it stale
    invoke("hash", "--project", str(demo), "--write")
    make_demo(demo, gamma="1.1", exp=("delta==1.0",))
    assert invoke("hash", "--project", str(demo), "--check")[0] == 0


def test_malformed_toml(demo: Path) -> None:
    (demo / "pyproject.toml").write_text("[project\nname = 'x'\n")
    code, _, err = invoke("hash", "--project", str(demo))
    assert code == 2 and "pyproject.toml: is not valid TOML" in err


def test_lock_that_does_not_match_pyproject(demo: Path, tmp_path: Path) -> None:
    text = (demo / "pyproject.toml").read_text().replace('"alpha==1.0"', '"alpha==1.0", "omega>=2"')
    (demo / "pyproject.toml").write_text(text)
    code, _, err = invoke("hash", "--project", str(demo))
    assert code == 2 and "uv.lock: is not consistent with pyproject.toml" in err and "omega" in err
    stale = tmp_path / "stale"
    shutil.copytree(CORPUS / "mem0ai__mem0", stale)
    code, _, err = invoke("resolve", "--project", str(stale))
    assert code == 2 and "poetry.lock: is not consistent with pyproject.toml" in err and "poetry lock" in err


def test_unknown_group_extra_variant_list_what_exists(demo: Path) -> None:
    code, _, err = invoke("resolve", "--project", str(demo), "--groups", "docs")
    assert code == 2 and "groups: names an unknown group 'docs'; allowed: dev" in err
    code, _, err = invoke("resolve", "--project", str(demo), "--extras", "gpu")
    assert code == 2 and "extras: names an unknown extra 'gpu'; allowed: ml" in err
    code, _, err = invoke("resolve", "--project", str(demo), "--variant", "gpu")
    assert code == 2 and "variant: unknown variant 'gpu'; allowed: base, dev, ml" in err
    code, _, err = invoke("resolve", "--project", str(demo), "--groups", "exp")
    assert code == 2 and "exp group" in err


def test_cycle_in_extends(demo: Path) -> None:
    text = (demo / "pyproject.toml").read_text()
    text = text.replace('[tool.slipway.variants.ml]\nextends = "base"', '[tool.slipway.variants.ml]\nextends = "dev"')
    text = text.replace('[tool.slipway.variants.dev]\nextends = "base"', '[tool.slipway.variants.dev]\nextends = "ml"')
    (demo / "pyproject.toml").write_text(text)
    code, _, err = invoke("hash", "--project", str(demo))
    assert code == 2 and "forms a cycle: dev -> ml -> dev" in err


def test_python_outside_requires_python(demo: Path) -> None:
    code, _, err = invoke("resolve", "--project", str(demo), "--python", "3.10")
    assert code == 2 and "python: target Python 3.10 is outside the project's requires-python '>=3.11'" in err


def test_aarch64_markers(tmp_path: Path) -> None:
    proj = tmp_path / "tgi"
    shutil.copytree(CORPUS / "huggingface__text-generation-inference-uv", proj)
    x86 = json.loads(invoke("resolve", "--project", str(proj), "--python", "3.12", "--json")[1])
    arm = json.loads(invoke("resolve", "--project", str(proj), "--python", "3.12", "--machine", "aarch64",
                            "--json")[1])
    x86_names = {p["name"] for p in x86["packages"]}
    arm_names = {p["name"] for p in arm["packages"]}
    assert "nvidia-cublas-cu12" in x86_names - arm_names
    assert arm["target"]["machine"] == "aarch64"

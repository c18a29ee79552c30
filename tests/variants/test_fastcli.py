"""`python -m slipway.variants` (the click-free face for the pre-commit hook) prints what
`slipway variants` prints, exits as it does, and imports neither click nor packaging."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipway.variants.cli import variants
from slipway.variants.fastcli import parse
from tests.harness.procs import REPO
from tests.images.demo import make_demo
from tests.variants.oracle import CORPUS


def fast(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "slipway.variants", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def slow(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(variants, list(args), prog_name="slipway variants")
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("fast") / "demo")


def test_same_output_and_exit_codes(demo: Path, tmp_path: Path) -> None:
    d = str(demo)
    for args in [("hash", "--project", d), ("hash", "--project", d, "--json"), ("hash", "--check", "--project", d),
                 ("resolve", "--project", d), ("resolve", f"--project={d}", "--extras", "ml", "--json"),
                 ("resolve", "--project", d, "--variant", "dev", "--python", "3.12"),
                 ("resolve", "--project", d, "--variant", "ml", "--groups", "dev"),
                 ("resolve", "--project", d, "--groups", "docs"), ("resolve", "--project", str(tmp_path)),
                 ("hash", "--write", "--check", "--project", d), ("resolve", "--project", d, "--machine", "sparc")]:
        assert fast(*args) == slow(*args), args
    code, out, _ = fast("resolve", "--help")  # click's help (its width may differ from CliRunner's)
    assert code == 0 and out.startswith("Usage: slipway variants resolve [OPTIONS]") and "--variant" in out
    (demo / "slipway-variants.lock.json").unlink(missing_ok=True)
    code, _, err = fast("hash", "--check", "--write", "--project", d)  # the last mode wins, as in click
    assert code == 0 and err.startswith("updated ")
    assert fast("hash", "--check", "--project", d)[0] == 0


def test_parse_hands_what_it_does_not_know_to_click() -> None:
    assert parse(["hash", "--check", "--project", "."]) == ("hash", {"--project": "."}, {"--check"})
    for argv in (["hash", "--help"], ["hash", "--variant", "x"], ["resolve", "--project"], ["check-main"], [],
                 ["resolve", "--machine", "sparc"]):
        assert parse(argv) is None, argv


def test_the_hook_imports_only_what_it_needs(demo: Path) -> None:
    code = ("import sys; from slipway.variants.fastcli import main; rc = main(sys.argv[1:]); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'packaging', 'slipway.flow'}))")
    for project in (demo, CORPUS / "pydantic__pydantic-ai-uv", CORPUS / "Textualize__textual"):
        proc = subprocess.run([sys.executable, "-c", code, "hash", "--project", str(project), "--python", "3.12"],
                              capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1].replace("'", '"')) == [], project


CONSTRAINTS = [">=3.11", ">=3.11,<4", "<3.12", "==3.11.*", "!=3.12.*", ">3.11", "<=3.12", ">=3.8,<3.13", "==3.12",
               "!=3.11", "^3.8.1", "^3.11", "~3.11", "~3.11.2", "^0.3", ">=3.8 <4.0", "^3.8 || ^3.11", "3.12",
               ">=3.8,<3.11 || >=3.12", "^3", "~=3.11", ">=3.11rc1", "*"]
VERSIONS = ["3.11.0", "3.12.0", "3.13.0", "3.8.0", "3.10.0", "3.12.4", "3.11.7", "3.8.1", "4.0.0", "0.3.5", "0.4.0"]


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_import_free_version_checks_agree_with_packaging(constraint: str) -> None:
    from packaging.specifiers import Specifier
    from packaging.version import Version

    from slipway.variants.constraints import _quick_allows, compile_constraint
    from slipway.variants.markers import _release_compare

    for v in VERSIONS:
        quick = _quick_allows(constraint, v)
        assert quick is None or quick == compile_constraint(constraint)(Version(v)), (constraint, v)
    for op in ("==", "!=", "<", "<=", ">", ">="):
        for a in VERSIONS:
            for b in ("3.11", "3.12.0", "3", "3.11.*", "0.3"):
                if b.endswith(".*") and op not in ("==", "!="):
                    continue
                assert _release_compare(op, a, b) == Specifier(f"{op}{b}").contains(a, prereleases=True), (a, op, b)

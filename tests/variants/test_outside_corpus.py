"""Issue 14: locks outside the corpus. Synthetic projects locked by the real `uv lock` / `poetry lock`
(tests/variants/synth.py, cached), shaped like each defect class, and the damaged-input matrix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipway.variants.cli import variants
from slipway.variants.hashing import HASHES_FILE
from slipway.variants.markers import Target
from slipway.variants.project import Project
from slipway.variants.service import compute
from slipway.variants.uv import conflict_item
from tests.variants.oracle import Tools, ensure_tools, installed, run_export, slipway_keys
from tests.variants.synth import locked_project

HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'

# (a) a project whose extra (through a workspace member) and group depend back on the project
SELFREF = {
    "pyproject.toml": """[project]
name = "selfref"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["idna>=3.4"]

[project.optional-dependencies]
aws = ["selfref-aws"]
plot = ["six>=1.16"]

[dependency-groups]
docs = ["selfref[plot]", "packaging>=23"]

[tool.uv.sources]
selfref-aws = { workspace = true }

[tool.uv.workspace]
members = ["packages/selfref-aws"]

[tool.slipway.variants.aws]
extends = "base"
extras = ["aws"]

[tool.slipway.variants.docs]
extends = "base"
groups = ["docs"]

""" + HATCH,
    "README.md": "# selfref\n",
    "src/selfref/__init__.py": "",
    "packages/selfref-aws/pyproject.toml": """[project]
name = "selfref-aws"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["selfref", "attrs>=23"]

[tool.uv.sources]
selfref = { workspace = true }

""" + HATCH,
    "packages/selfref-aws/src/selfref_aws/__init__.py": "",
}

# (b) an extra requiring (through requests) a package the project also needs on non-CPython only:
# poetry locks idna with `extra == "x" or platform_python_implementation != "CPython"`
EXTRAMARK = {
    "pyproject.toml": """[project]
name = "extramark"
version = "0.1.0"
requires-python = ">=3.11,<4"
dependencies = ["idna>=3.4; platform_python_implementation != 'CPython'"]

[project.optional-dependencies]
x = ["requests>=2.31"]

[tool.slipway.variants.x]
extends = "base"
extras = ["x"]
""",
}


@pytest.fixture(scope="module")
def tools() -> Tools:
    return ensure_tools()


@pytest.fixture
def selfref(tools: Tools, tmp_path: Path) -> Path:
    return locked_project("uv", SELFREF, tmp_path / "selfref", tools)


@pytest.fixture
def extramark(tools: Tools, tmp_path: Path) -> Path:
    return locked_project("poetry", EXTRAMARK, tmp_path / "extramark", tools)


def exporter_keys(tools: Tools, project: Path, groups: tuple[str, ...], extras: tuple[str, ...],
                  scratch: Path) -> set[tuple[str, str]]:
    kind = Project(project).kind
    exp = run_export(tools, kind, project, groups, extras, False, scratch)
    assert exp.ok, exp.text[-1500:]
    active = set(extras)
    if kind == "uv":
        name = Project(project).name
        active |= {conflict_item("extra", name, e) for e in extras} | {conflict_item("group", name, g) for g in groups}
    return installed(exp.text, Target(python="3.12"), active, project) - {("path:.", "@direct")}


def test_uv_project_reached_back_through_an_extra_or_a_group_is_not_a_package(
        tools: Tools, selfref: Path, tmp_path: Path) -> None:
    lock = (selfref / "uv.lock").read_text()
    assert '{ name = "selfref" }' in lock and '{ name = "selfref", extra = ["plot"] }' in lock, \
        "the synthetic lock lost the shape of the case (a member and a group depending back on the project)"
    before = {r.variant.name: r for r in compute(selfref)}
    aws = {p.name: p for p in before["aws"].packages}
    docs = {p.name for p in before["docs"].packages}
    assert "selfref" not in aws and "selfref" not in docs
    assert aws["selfref-aws"].source.kind == "path" and {"attrs", "idna"} <= set(aws)
    assert {"six", "packaging", "idna"} <= docs  # selfref[plot] through the group is followed
    # editing the project's own files changes no variant's hash
    (selfref / "README.md").write_text("# selfref\n\none more line\n")
    (selfref / "src" / "selfref" / "__init__.py").write_text("VALUE = 1\n")
    after = {r.variant.name: r.hash for r in compute(selfref)}
    assert after == {n: r.hash for n, r in before.items()}
    # the member's code does count
    (selfref / "packages" / "selfref-aws" / "src" / "selfref_aws" / "__init__.py").write_text("VALUE = 2\n")
    again = {r.variant.name: r.hash for r in compute(selfref)}
    assert again["aws"] != after["aws"] and again["docs"] == after["docs"]
    # and each selection is what `uv export` installs
    project = Project(selfref)
    for groups, extras in [((), ()), ((), ("aws",)), (("docs",), ()), (("docs",), ("aws", "plot"))]:
        got = slipway_keys(project.select(groups, extras, Target(python="3.12")).packages, selfref)
        assert got == exporter_keys(tools, selfref, groups, extras, tmp_path / "scratch"), (groups, extras)


def test_poetry_extra_or_env_marker_is_exported_with_the_extra(tools: Tools, extramark: Path, tmp_path: Path) -> None:
    lock = (extramark / "poetry.lock").read_text()
    block = lock[lock.index('name = "idna"'):].split("\n[[package]]")[0]
    marker = re.search(r"^markers = (.*)$", block, re.M)
    assert marker and 'extra == \\"x\\"' in marker.group(1) and " or " in marker.group(1) \
        and 'platform_python_implementation != \\"CPython\\"' in marker.group(1), \
        f"the synthetic lock lost the shape of the case: {block[:400]}"
    project = Project(extramark)
    base = {p.name for p in project.select_variant("base", Target(python="3.12")).packages}
    with_x = {p.name for p in project.select_variant("x", Target(python="3.12")).packages}
    assert "idna" not in base and {"idna", "requests", "urllib3", "certifi"} <= with_x
    for extras in [(), ("x",)]:
        got = slipway_keys(project.select((), extras, Target(python="3.12")).packages, extramark)
        assert got == exporter_keys(tools, extramark, (), extras, tmp_path / "scratch"), extras


# -- damaged input ---------------------------------------------------------------------------------
Mutation = Callable[[Path], None]


def _edit(name: str, change: Callable[[str], str]) -> Mutation:
    def apply(project: Path) -> None:
        path = project / name
        path.write_text(change(path.read_text()))
    return apply


def _drop_block(package: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        blocks = text.split("\n[[package]]\n")
        kept = [b for b in blocks if not b.startswith(f'name = "{package}"\n')]
        assert len(kept) == len(blocks) - 1, package
        return "\n[[package]]\n".join(kept)
    return change


DAMAGED: list[tuple[str, str, Mutation, str, bool]] = [
    # (label, which project, damage, the one error line, does `uv export --frozen` refuse it too)
    ("uv.lock tail cut", "uv", _edit("uv.lock", lambda t: t[:-300]), "uv.lock: is not valid TOML", True),
    ("uv.lock cut in the middle", "uv", _edit("uv.lock", lambda t: t[: len(t) // 2]),
     "uv.lock: is not valid TOML", True),
    ("uv.lock package block missing", "uv", _edit("uv.lock", _drop_block("idna")),
     "uv.lock: refers to idna which it does not lock", True),
    ("uv.lock empty", "uv", _edit("uv.lock", lambda t: ""), "uv.lock: is empty", True),
    ("pyproject.toml empty beside uv.lock", "uv", _edit("pyproject.toml", lambda t: ""),
     "pyproject.toml: is empty", False),
    ("pyproject.toml without [project] beside uv.lock", "uv",
     _edit("pyproject.toml", lambda t: '[tool.slipway]\npython = "3.12"\n'), "pyproject.toml: has no [project] table",
     False),
    ("poetry.lock empty", "poetry", _edit("poetry.lock", lambda t: ""), "poetry.lock: is empty", False),
    ("poetry.lock cut in the middle", "poetry", _edit("poetry.lock", lambda t: t[: len(t) // 2]),
     "poetry.lock: is not valid TOML", False),
    ("poetry.lock without [metadata]", "poetry", _edit("poetry.lock", lambda t: t[: t.index("\n[metadata]")] + "\n"),
     "poetry.lock: has no [metadata] table with a content-hash", False),
    ("poetry.lock package block missing", "poetry", _edit("poetry.lock", _drop_block("certifi")),
     "poetry.lock: has no locked package for certifi, which requests", False),
]


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(variants, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(("label", "kind", "damage", "message", "uv_refuses"), DAMAGED, ids=[d[0] for d in DAMAGED])
def test_damaged_input_is_refused_in_one_line_and_nothing_is_written(
        label: str, kind: str, damage: Mutation, message: str, uv_refuses: bool, tools: Tools, tmp_path: Path) -> None:
    project = locked_project(kind, SELFREF if kind == "uv" else EXTRAMARK, tmp_path / "p", tools)
    damage(project)
    variant = "aws" if kind == "uv" else "x"  # a variant that reaches the damaged part
    for args in (("hash", "--write"), ("hash", "--check"), ("resolve", "--variant", variant, "--json")):
        code, out, err = _cli(*args, "--project", str(project))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), (args, code, err, out)
        assert not out
    assert not (project / HASHES_FILE).exists()
    if uv_refuses:
        exp = run_export(tools, "uv", project, (), ("aws",), False, tmp_path / "scratch")
        assert not exp.ok, f"uv export accepted the damaged lock ({label})"


def test_a_variant_with_groups_or_extras_is_refused(selfref: Path) -> None:
    code, out, err = _cli("resolve", "--project", str(selfref), "--variant", "aws", "--groups", "docs")
    assert code == 2 and not out
    assert err.strip() == ("error: variant: cannot be combined with --groups docs: a variant defines its own groups "
                           "and extras (declare another variant, or leave --variant out)")
    code, _, err = _cli("resolve", "--project", str(selfref), "--variant", "aws", "--extras", "plot")
    assert code == 2 and "cannot be combined with --extras plot" in err
    code, out, _ = _cli("resolve", "--project", str(selfref), "--variant", "aws", "--json")
    assert code == 0 and "selfref-aws" in {p["name"] for p in json.loads(out)["packages"]}

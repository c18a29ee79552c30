"""Property tests of the canonical hash rules (hypothesis), on generated uv and poetry projects.

Unchanged by: reformatting the lock, reordering packages, changing unrelated groups, other variants
or the exp group. Changed by: any selected package's version or source, the target, the variant's
definition.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.variants.hashing import canonical_bytes, variant_hash
from slipway.variants.markers import Target
from slipway.variants.project import Project

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9]{1,6}", fullmatch=True), min_size=3, max_size=8, unique=True)
VERSIONS = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=8, max_size=8)


def uv_project(main: list[str], dev: list[str], exp: list[str], versions: dict[str, str],
               sources: dict[str, str] | None = None, shuffle: int | None = None, pretty: bool = False,
               extra_variant: bool = False) -> str:
    sources = sources or {}
    blocks = []
    everything = sorted(set(main) | set(dev) | set(exp))
    for n in everything:
        src = sources.get(n, 'registry = "https://pypi.org/simple"')
        blocks.append(f'[[package]]\nname = "{n}"\nversion = "{versions[n]}"\nsource = {{ {src} }}\n')
    if shuffle is not None:
        random.Random(shuffle).shuffle(blocks)
    deps = ", ".join(f'{{ name = "{n}" }}' for n in main)
    dev_deps = ", ".join(f'{{ name = "{n}" }}' for n in dev)
    exp_deps = ", ".join(f'{{ name = "{n}" }}' for n in exp)
    root = (f'[[package]]\nname = "proj"\nversion = "0.1.0"\nsource = {{ virtual = "." }}\n'
            f"dependencies = [{deps}]\n\n[package.metadata]\nrequires-dist = ["
            + ", ".join(f'{{ name = "{n}" }}' for n in main) + f"]\n\n[package.dev-dependencies]\ndev = [{dev_deps}]\nexp = [{exp_deps}]\n")
    blocks.insert(0 if shuffle is None else (shuffle % (len(blocks) + 1)), root)
    sep = "\n\n\n" if pretty else "\n"
    lock = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n' + sep.join(blocks)
    if pretty:
        lock = re.sub(r"^([a-z-]+) = ", r"\1   =   ", lock, flags=re.M).replace("{ ", "{  ")
        lock = "# reformatted by hand\n" + lock.replace("\n[[package]]", "\n\n  [[package]]")
    return lock


def pyproject(main: list[str], dev: list[str], exp: list[str], *, extra_variant: bool = False,
              dev_in_base: bool = False) -> str:
    text = ('[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
            f"dependencies = [{', '.join(repr(n) for n in main)}]\n\n"
            f"[dependency-groups]\ndev = [{', '.join(repr(n) for n in dev)}]\n"
            f"exp = [{', '.join(repr(n) for n in exp)}]\n\n"
            '[tool.slipway.variants.dev]\nextends = "base"\ngroups = ["dev"]\n')
    if extra_variant:
        text += '\n[tool.slipway.variants.other]\nextends = ["base", "dev"]\n'
    if dev_in_base:
        text += '\n[tool.slipway.variants.base]\ngroups = ["dev"]\n'
    return text


def hashes(pyproj: str, lock: str, python: str = "3.12") -> dict[str, str]:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "pyproject.toml").write_text(pyproj)
        Path(d, "uv.lock").write_text(lock)
        p = Project(d)
        t = p.target(python)
        return {n: variant_hash(p.select(v.groups, v.extras, t), t) for n, v in p.variants().items()}


@st.composite
def projects(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    names = draw(NAMES)
    k = draw(st.integers(1, len(names) - 2))
    main, rest = names[:k], names[k:]
    dev, exp = rest[: len(rest) // 2 + 1], rest[len(rest) // 2 + 1:]
    vs = draw(VERSIONS)
    return main, dev, exp, {n: f"{a}.{b}" for n, (a, b) in zip(names, vs, strict=False)}


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(projects(), st.integers(0, 1000))
def test_reformat_and_reorder_keep_every_hash(proj: tuple, seed: int) -> None:  # type: ignore[type-arg]
    main, dev, exp, vs = proj
    base = hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, vs))
    assert hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, vs, shuffle=seed, pretty=True)) == base


@SETTINGS
@given(projects(), st.data())
def test_exp_group_and_other_variants_never_count(proj: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    main, dev, exp, vs = proj
    base = hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, vs))
    # a different exp group (new names, new versions)
    new_exp = [f"x{n}" for n in exp] + ["zexp"]
    vs2 = {**vs, **{n: "9.9" for n in new_exp}}
    assert hashes(pyproject(main, dev, new_exp), uv_project(main, dev, new_exp, vs2)) == base
    # another variant declared next to them
    with_other = hashes(pyproject(main, dev, exp, extra_variant=True), uv_project(main, dev, exp, vs))
    assert {k: v for k, v in with_other.items() if k != "other"} == base
    # changing a dev-only package leaves base alone, changes dev
    victim = data.draw(st.sampled_from(dev))
    bumped = hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, {**vs, victim: vs[victim] + ".1"}))
    assert bumped["base"] == base["base"] and bumped["dev"] != base["dev"]


@SETTINGS
@given(projects(), st.data())
def test_version_source_target_definition_change_the_hash(proj: tuple, data: st.DataObject) -> None:  # type: ignore[type-arg]
    main, dev, exp, vs = proj
    base = hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, vs))
    victim = data.draw(st.sampled_from(main))
    assert hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, {**vs, victim: vs[victim] + ".post1"}))[
        "base"] != base["base"]
    # same version from another index (a CUDA wheel is another artefact)
    moved = uv_project(main, dev, exp, vs, sources={victim: 'registry = "https://download.pytorch.org/whl/cu128"'})
    assert hashes(pyproject(main, dev, exp), moved)["base"] != base["base"]
    # a git source pinned to another commit
    g1 = uv_project(main, dev, exp, vs, sources={victim: 'git = "https://github.com/o/r?branch=main#' + "a" * 40 + '"'})
    g2 = uv_project(main, dev, exp, vs, sources={victim: 'git = "https://github.com/o/r?branch=main#' + "b" * 40 + '"'})
    assert hashes(pyproject(main, dev, exp), g1)["base"] != hashes(pyproject(main, dev, exp), g2)["base"]
    # the target
    assert hashes(pyproject(main, dev, exp), uv_project(main, dev, exp, vs), python="3.11")["base"] != base["base"]
    # the variant's definition: base now includes dev
    redefined = hashes(pyproject(main, dev, exp, dev_in_base=True), uv_project(main, dev, exp, vs))
    assert redefined["base"] != base["base"]


def test_git_branch_name_is_not_the_pin() -> None:
    main, dev, exp = ["aa", "bb"], ["cc"], []
    vs = {"aa": "1.0", "bb": "1.0", "cc": "1.0"}
    commit = "c" * 40
    on_main = uv_project(main, dev, exp, vs, sources={"aa": f'git = "https://github.com/o/r?branch=main#{commit}"'})
    on_tag = uv_project(main, dev, exp, vs, sources={"aa": f'git = "https://github.com/o/r?rev=v1#{commit}"'})
    assert hashes(pyproject(main, dev, exp), on_main) == hashes(pyproject(main, dev, exp), on_tag)


def test_canonical_form_is_documented_json() -> None:
    import json

    with tempfile.TemporaryDirectory() as d:
        Path(d, "pyproject.toml").write_text(pyproject(["aa"], ["cc"], []))
        Path(d, "uv.lock").write_text(uv_project(["aa"], ["cc"], [], {"aa": "1.0", "cc": "2.0"}))
        p = Project(d)
        t = Target("3.12")
        doc = json.loads(canonical_bytes(p.select((), (), t), t))
    assert doc == {"format": "slipway-variant/1",
                   "target": {"machine": "x86_64", "platform": "linux", "python": "3.12"},
                   "variant": {"extras": [], "groups": []},
                   "packages": [["aa", "1.0", "registry+https://pypi.org/simple"]]}


def test_local_paths_count_by_content_but_not_the_project_itself(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "libs" / "helper").mkdir(parents=True)
    (proj / "libs" / "helper" / "mod.py").write_text("X = 1\n")
    (proj / "app.py").write_text("print('v1')\n")
    (proj / "pyproject.toml").write_text(pyproject(["helper"], [], []))
    lock = uv_project(["helper"], [], [], {"helper": "0.1.0"}, sources={"helper": 'editable = "libs/helper"'})
    (proj / "uv.lock").write_text(lock)

    def base() -> str:
        p = Project(proj)
        t = p.target("3.12")
        return variant_hash(p.select((), (), t), t)

    first = base()
    (proj / "app.py").write_text("print('v2')\n")  # the project's own code: no change
    (proj / "libs" / "helper" / "__pycache__").mkdir()
    (proj / "libs" / "helper" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"junk")
    assert base() == first
    (proj / "libs" / "helper" / "mod.py").write_text("X = 2\n")  # the path dependency's content: change
    assert base() != first

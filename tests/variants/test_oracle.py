"""Oracle tests: Slipway's selection == what `poetry export` / `uv export` would install.

For every project of ../shared/lockcorpus, for main only, each group, each extra and all extras,
for Python 3.11, 3.12 and 3.13 where the project allows it (plus one Python inside the project's range
when all are outside it),
on linux/x86_64. The real tools are installed from PyPI by the set-up (tests/variants/oracle.py).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slipway.errors import ValidationError
from slipway.variants.constraints import allows
from slipway.variants.markers import Target
from slipway.variants.project import Project
from slipway.variants.uv import conflict_item
from tests.variants.oracle import (
    CORPUS,
    Export,
    Tools,
    ensure_tools,
    installed,
    run_export,
    run_poetry_batch,
    slipway_keys,
)

if not CORPUS.is_dir():  # a collection error, never a skip
    raise RuntimeError(f"the lock corpus is missing: expected {CORPUS} (shared/ beside the repository)")

PROJECTS = sorted(d.name for d in CORPUS.iterdir() if d.is_dir())

# Locks whose content-hash no longer matches their pyproject.toml. `poetry export` refuses them
# ("pyproject.toml changed significantly since poetry.lock was last generated"), and so does
# Slipway, with the same advice. Recorded here so the refusal is asserted, not skipped.
STALE_POETRY = {
    "huggingface__text-generation-inference-gaudi",
    "mealie-recipes__mealie-lock1.1",
    "mem0ai__mem0",
    "nix-community__poetry2nix-text-generation-webui",
}

# Locks the real tool cannot export, with its error; Slipway's selection is compared with a recorded
# expectation instead: every package of these locks is a main, non-optional package reachable from
# the project's one path dependency (checked by hand against the lock), so the selection is the lock.
TOOL_CANNOT = {
    # the file dependency's wheel is not in the corpus; poetry's walker cannot match it
    "nix-community__poetry2nix-file-wheel-deps-level2": "Dependency walk failed at trivial",
    # a lock from before lock-version 1.1 (no lock-version at all): poetry 2 refuses it
    "nix-community__poetry2nix-path-deps-level2": "The lock file is not compatible with the current version",
}

Case = tuple[str, tuple[str, ...], tuple[str, ...], bool]


def cases(project: Project) -> list[Case]:
    out: list[Case] = [("main", (), (), False)]
    out += [(f"group {g}", (g,), (), False) for g in project.groups()]
    out += [(f"extra {e}", (), (e,), False) for e in project.extras()]
    if project.extras():
        out.append(("all extras", (), tuple(project.extras()), True))
    return out


def pythons(project: Project) -> list[str]:
    chosen = ["3.11", "3.12"]
    rp = project.requires_python()
    if not rp or allows(rp, "3.13.0"):
        chosen.append("3.13")  # where the lock allows it
    if rp and not any(allows(rp, f"{p}.0") for p in chosen):
        chosen += [next(p for p in ("3.10", "3.9", "3.8", "3.13", "3.14") if allows(rp, f"{p}.0"))]
    return chosen


@pytest.fixture(scope="session")
def oracle_tools() -> Tools:
    return ensure_tools()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for name in PROJECTS:
        shutil.copytree(CORPUS / name, root / name)
    return root


@pytest.fixture(scope="session")
def exports(oracle_tools: Tools, workspace: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[tuple[str, str], Export]:
    """Every export of every project, run in parallel once per test run (cached only in memory).

    poetry: one poetry process per project runs poetry-plugin-export's exporter for all its cases
    (tests/variants/poetry_batch.py; test_batch_equals_the_command checks it equals `poetry export`);
    uv: one `uv export` per case.
    """
    scratch = tmp_path_factory.mktemp("oracle")
    jobs: list[tuple[int, str, list[Case], str]] = []
    for name in PROJECTS:
        proj = Project(workspace / name, check_lock=False)
        cs = cases(proj)
        jobs.append((len(cs) * proj.lock_path.stat().st_size, name, cs, proj.kind))
    jobs.sort(reverse=True)  # longest first

    def one(job: tuple[int, str, list[Case], str]) -> dict[tuple[str, str], Export]:
        _, name, cs, kind = job
        if kind == "poetry":
            batch = [{"label": c[0], "groups": list(c[1]), "extras": list(c[2]), "all_extras": c[3]} for c in cs]
            res = run_poetry_batch(oracle_tools, workspace / name, batch, scratch)
            return {(name, label): exp for label, exp in res.items()}
        return {(name, c[0]): run_export(oracle_tools, kind, workspace / name, c[1], c[2], c[3], scratch) for c in cs}

    out: dict[tuple[str, str], Export] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for part in pool.map(one, jobs):
            out.update(part)
    return out


@pytest.mark.parametrize(("name", "which"), [("nautobot__nautobot-lock1.1", -1),
                                           ("nix-community__poetry2nix-git-deps-pinned", 0),
                                           ("Textualize__textual", -1)])
def test_batch_equals_the_command(name: str, which: int, oracle_tools: Tools, workspace: Path,
                                  exports: dict[tuple[str, str], Export], tmp_path: Path) -> None:
    """The in-process batch gives `poetry export`'s very output (lock 1.1, 2.0, 2.1)."""
    project = Project(workspace / name)
    label, groups, extras, all_extras = cases(project)[which]
    cmd = run_export(oracle_tools, "poetry", workspace / name, groups, extras, all_extras, tmp_path)
    assert cmd.ok, cmd.text
    assert cmd.text.strip() == exports[(name, label)].text.strip()


@pytest.mark.parametrize("name", PROJECTS)
def test_selection_matches_the_real_exporter(name: str, workspace: Path,
                                             exports: dict[tuple[str, str], Export]) -> None:
    project_dir = workspace / name
    if name in STALE_POETRY:
        with pytest.raises(ValidationError, match="not consistent with pyproject.toml.*poetry lock"):
            Project(project_dir)
        for (pname, label), exp in exports.items():
            if pname == name:
                assert not exp.ok, f"poetry export accepted the stale lock of {name} ({label})"
                assert "changed significantly since poetry.lock was last generated" in exp.text
        return
    project = Project(project_dir)
    if name in TOOL_CANNOT:
        exp = exports[(name, "main")]
        assert not exp.ok and TOOL_CANNOT[name] in exp.text, exp.text[-500:]
        for py in ("3.11", "3.12"):  # the recorded expectation was checked by hand for these
            sel = project.select((), (), Target(python=py))
            assert {p.name for p in sel.packages} == {p.name for p in project.poetry.packages}  # type: ignore[union-attr]
        return
    mismatches: list[str] = []
    compared = 0
    for label, groups, extras, _ in cases(project):
        exp = exports[(name, label)]
        if not exp.ok and "incompatible with the declared conflicts" in exp.text:
            # uv refuses extras declared as conflicting (nanochat's cpu and gpu): so does Slipway
            with pytest.raises(ValidationError, match="declared as conflicting"):
                project.select(groups, extras, Target(python=pythons(project)[0]))
            compared += 1
            continue
        assert exp.ok, f"{project.kind} export failed for {name} ({label}): {exp.text[-1500:]}"
        for py in pythons(project):
            target = Target(python=py)
            active = set(extras)
            if project.kind == "uv":
                active |= {conflict_item("extra", project.name, e) for e in extras}
                active |= {conflict_item("group", project.name, g) for g in groups}
            # the project itself (uv's `-e .`) is not a package of any variant
            want = installed(exp.text, target, active, project_dir) - {("path:.", "@direct")}
            try:
                sel = project.select(groups, extras, target)
            except ValidationError as exc:
                # outside requires-python: Slipway refuses; poetry's markers then select nothing
                assert "outside the project's requires-python" in str(exc), str(exc)
                if project.kind == "poetry":
                    assert not want, f"{name} {label} py{py}: poetry still selects {sorted(want)[:5]}"
                continue
            got = slipway_keys(sel.packages, project_dir)
            compared += 1
            if got != want:
                mismatches.append(f"{label} py{py}: slipway only {sorted(got - want)[:8]}; "
                                  f"exporter only {sorted(want - got)[:8]}")
    assert compared, f"{name}: no selection compared"
    assert not mismatches, f"{name} ({project.kind}):\n" + "\n".join(mismatches)

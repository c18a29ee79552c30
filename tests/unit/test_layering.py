"""The shape the project promises, checked by reading the code (import analysis, AST).

- Only the ledger writes SQL: nothing outside ``slipway.ledger`` imports SQLAlchemy.
- No face builds settings itself: modules and CLI commands get them from ``slipway.config`` and call a
  use case; they never construct ``Settings``/``TailscaleSettings``/``UndertakerConfig`` themselves.
- Every CLI option has help text, and an option shared by several commands has the same name everywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "slipway"
FACES = [*sorted((REPO / "plugins" / "modules").glob("*.py")), SRC / "vessels_cli.py", SRC / "undertaker" / "cli.py"]
SETTINGS_TYPES = {"Settings", "TailscaleSettings", "UndertakerConfig", "VesselService", "Ledger"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_ledger_imports_sqlalchemy() -> None:
    offenders = [str(p.relative_to(REPO)) for p in SRC.rglob("*.py")
                 if "ledger" not in p.relative_to(SRC).parts[:1]
                 and any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in _imports(p))]
    assert offenders == []


@pytest.mark.parametrize("face", FACES, ids=lambda p: p.name)
def test_faces_build_no_settings_and_call_use_cases(face: Path) -> None:
    tree = ast.parse(face.read_text())
    built = sorted({n.func.id if isinstance(n.func, ast.Name) else n.func.attr
                    for n in ast.walk(tree) if isinstance(n, ast.Call)
                    and ((isinstance(n.func, ast.Name) and n.func.id in SETTINGS_TYPES)
                         or (isinstance(n.func, ast.Attribute) and n.func.attr == "parse"
                             and isinstance(n.func.value, ast.Name) and n.func.value.id == "UndertakerConfig"))})
    assert built == [], f"{face.name} builds {built} itself"
    if face.parent.name == "modules" and face.name != "gpu_facts.py":
        assert "slipway.usecases" in _imports(face) or "slipway" in _imports(face), face.name
        assert "usecases." in face.read_text()
    if face.parent.name == "modules":
        code = sum(1 for line in face.read_text().split('"""')[-1].splitlines() if line.strip())
        assert code <= 60, f"{face.name}: {code} lines of code after the documentation"


def _commands() -> list[tuple[str, click.Command]]:
    from slipway.undertaker.cli import undertaker
    from slipway.vessels_cli import vessels

    out: list[tuple[str, click.Command]] = []
    for group in (vessels, undertaker):
        assert isinstance(group, click.Group)
        out += [(f"{group.name} {name}", cmd) for name, cmd in group.commands.items()]
    return out


def test_every_cli_option_has_help_and_one_name() -> None:
    names: dict[str, set[str]] = {}
    for where, cmd in _commands():
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.help, f"{where} {p.opts[0]} has no help"
                assert p.name is not None
                names.setdefault(p.name, set()).add(p.opts[0])
    assert {k: v for k, v in names.items() if len(v) > 1} == {}
    assert names["ledger_url"] == {"--ledger-url"}


def test_launch_takes_the_request_fields_the_readme_lists() -> None:
    launch = dict(_commands())["vessels launch"]
    opts = {o for p in launch.params for o in p.opts}
    assert {"--user", "--shm-size", "--ssh-public-key", "--gpus", "--queue", "--cpus", "--memory", "--image",
            "--name", "--check"} <= opts

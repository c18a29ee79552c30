"""ansible-lint (production profile), yamllint and syntax checks over roles, playbooks, inventory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness.procs import REPO
from tests.roles.conftest import VENV_BIN, ansible_env

PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))


def _run(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=ansible_env(home), capture_output=True, text=True, check=False)


def test_ansible_lint_production_profile(tmp_path: Path) -> None:
    proc = _run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--offline", "-c", ".ansible-lint",
                 "roles", "playbooks", "inventory/example"], tmp_path)
    assert proc.returncode == 0, f"ansible-lint:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def test_yamllint(tmp_path: Path) -> None:
    proc = _run([str(VENV_BIN / "yamllint"), "--strict", "-c", ".yamllint", "roles", "playbooks",
                 "inventory/example", ".ansible-lint", ".yamllint"], tmp_path)
    assert proc.returncode == 0, f"yamllint:\n{proc.stdout[-6000:]}"


def test_there_are_playbooks() -> None:
    assert {"site.yml", "validate_inventory.yml"} <= {p.name for p in PLAYBOOKS}


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_syntax_check(playbook: Path, tmp_path: Path) -> None:
    proc = _run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory/example",
                 "--vault-password-file", "inventory/example/vault-password.example",
                 str(playbook.relative_to(REPO))], tmp_path)
    assert proc.returncode == 0, f"{playbook.name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_example_vault_is_encrypted() -> None:
    vault = REPO / "inventory/example/group_vars/all/vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")

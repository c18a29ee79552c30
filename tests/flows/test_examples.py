"""examples/ci: each CI deploys flows on every branch and refuses exp dependencies on pull requests,
with options `slipway flows deploy` really has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from slipway.cli import cli

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "ci").glob("*.yml"))


def test_every_ci_has_an_example() -> None:
    assert {p.name for p in EXAMPLES} >= {"github-actions.yml", "gitlab-ci.yml", "bitbucket-pipelines.yml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_deploys_flows_and_checks_main(path: Path) -> None:
    text = path.read_text()
    yaml.safe_load(text)  # valid YAML
    assert "slipway variants check-main" in text
    commands = re.findall(r"slipway flows deploy[^\n|]*", text)
    assert commands, "no `slipway flows deploy` step"
    options = set(re.findall(r"--[a-z-]+", " ".join(commands)))
    help_text = CliRunner().invoke(cli, ["flows", "deploy", "--help"]).output
    assert options <= set(re.findall(r"--[a-z-]+", help_text)), options


def test_pre_commit_example_runs_check_main() -> None:
    hooks = yaml.safe_load((EXAMPLES[0].parent / "pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert any(h["entry"].startswith("slipway variants check-main") for h in hooks)

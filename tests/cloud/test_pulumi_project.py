"""The Pulumi projects as Pulumi reads them: ``pulumi/Pulumi.yaml`` declares the slipway:* keys with
types and defaults that agree with ``slipway.cloud.settings``, and the example program of a team
(``examples/pulumi``) builds Slipway's components from the installed package under Pulumi's mocks.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from slipway.cloud.settings import KEYS, REQUIRED, Settings
from tests.cloud.pulumi_mocks import Mocks, RecordingMonitor

pytestmark = pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning")

REPO = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((REPO / "pulumi" / "Pulumi.yaml").read_text())
EXAMPLE = REPO / "examples" / "pulumi"
# What Pulumi's project config cannot declare (Pulumi.yaml says why, next to `config:`).
UNDECLARED = {k.full for k in KEYS if k.namespace != "slipway" or k.secret or k.kind == "object"} | \
             {"slipway:projects"}


def _valid(kind: str, items: dict[str, Any] | None, value: Any) -> bool:
    """Pulumi's check of a config value against a declared type (workspace.ValidateConfigValue)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, str) and value.lstrip("-").isdigit())
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    return kind == "array" and items is not None and isinstance(value, list) and \
        all(_valid(items["type"], items.get("items"), v) for v in value)


def _check_project(project: dict[str, Any]) -> None:
    """The rules `pulumi` applies when it loads a project file (workspace.Project.Validate)."""
    for key, decl in project.get("config", {}).items():
        namespaced = ":" not in key or key.startswith(f"{project['name']}:")
        assert namespaced, f"{key}: only the project's own keys may declare a type"
        assert set(decl) <= {"type", "items", "description", "secret", "default"}, key
        assert decl["type"] in ("string", "integer", "boolean", "array"), key
        assert decl["type"] != "array" or "items" in decl, f"{key}: an array needs items"
        if "default" in decl:
            assert _valid(decl["type"], decl.get("items"), decl["default"]), f"{key}: default of the wrong type"


def test_runtime_is_uv() -> None:
    for project in (PROJECT, yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())):
        assert project["runtime"]["name"] == "python"
        assert project["runtime"]["options"]["toolchain"] == "uv"


def test_config_declares_every_key_with_its_type_and_default() -> None:
    _check_project(PROJECT)
    _check_project(yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text()))
    config = PROJECT["config"]
    assert set(config) == {k.full for k in KEYS} - UNDECLARED
    for key in KEYS:
        if key.full in UNDECLARED:
            continue
        decl = config[key.full]
        assert decl["type"] == key.kind and decl["description"] == key.doc, key.full
        if key.kind == "array":
            assert decl["items"] == {"type": "string"}, key.full
        if key.default is REQUIRED:
            assert "default" not in decl, f"{key.full} is required: no default"
        else:
            assert decl["default"] == ("" if key.default is None else key.default), key.full


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_pass_pulumis_type_check_and_defaults_change_nothing(stack: str) -> None:
    values = yaml.safe_load((REPO / "pulumi" / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key, decl in PROJECT["config"].items():
        if key in values:
            assert _valid(decl["type"], decl.get("items"), values[key]), f"{stack}: {key}"
        else:
            assert "default" in decl, f"{stack} lacks the required {key}"
    # What the program sees under `pulumi up`: the stack's values, then Pulumi.yaml's defaults.
    with_defaults = {**{k: d["default"] for k, d in PROJECT["config"].items() if "default" in d}, **values}
    assert Settings.from_values(with_defaults, stack=stack) == Settings.from_values(values, stack=stack)


def test_example_program_under_mocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/pulumi/__main__.py: Slipway's components, parented and named under the team's prefix."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="team-gpu", stack="dev", preview=False, monitor=monitor)
    stack = yaml.safe_load((EXAMPLE / "Pulumi.dev.yaml").read_text())["config"]
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in stack.items()}, [])
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda k, v: exported.__setitem__(k, v))

    @pulumi.runtime.test
    def program() -> Any:
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")
        return pulumi.Output.all(**{k: pulumi.Output.from_input(v) for k, v in exported.items()})

    program()
    types = {r.type for r in monitor.registered}
    assert {"slipway:aws:ImageRegistry", "slipway:aws:BatchCompute"} <= types
    repos = sorted(r.inputs["name"] for r in monitor.registered if r.type == "aws:ecr/repository:Repository")
    assert repos == ["vision/detector", "vision/segmenter"]
    defs = sorted(r.inputs["name"] for r in monitor.registered if r.type == "aws:batch/jobDefinition:JobDefinition")
    assert defs == ["vision-dev-ml-detector", "vision-dev-ml-segmenter"]
    for r in monitor.registered:
        if r.custom:
            assert r.parent_types[-1].startswith("slipway:aws:"), f"{r.type} {r.name} has no component parent"
    assert set(exported) == {"repositoryUrls", "jobQueueArns", "jobDefinitions"}
    assert ("aws:ssm/getParameter:getParameter", {"name": "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/"
                                                           "recommended/image_id"}) in \
        [(t, {"name": a.get("name")}) for t, a in mocks.calls]

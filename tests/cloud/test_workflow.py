"""The seed's declaration (``slipway.flow``; ``slipway.cloud.workflow`` is the old import path):
machine checks against what ECS accepts, images from the project's variants, branch slugs, the CI
environment, the exp check before a merge. Pure and fast; the deployments themselves are tested
against a real Prefect server in tests/flows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slipway.cloud.workflow import AwsEcsImage, AwsEcsMachine, LocalMachine, Workflow
from slipway.errors import ValidationError
from slipway.flow import meta
from slipway.flow.exp import check_main
from slipway.flow.gitinfo import GitContext, detect, slug
from slipway.flow.machines import SCRATCH_PATH

ROLE = "arn:aws:iam::123456789012:role/slipway-dev-ecs-infrastructure"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("machine", "field"), [
    ({"cpu_value": 3000}, "machine.cpu_value"),
    ({"cpu_value": 1024, "memory_value": 1024}, "machine.memory_value"),
    ({"cpu_value": 8192, "memory_value": 18000}, "machine.memory_value"),
    ({"storage": 10}, "machine.storage"),
    ({"storage": 500}, "machine.storage"),
    ({"is_gpu": True, "gpus": 0}, "machine.gpus"),
    ({"is_gpu": True, "gpus": 9}, "machine.gpus"),
    ({"is_gpu": True, "storage": 0}, "machine.storage"),
    ({"is_gpu": True, "storage": 16385}, "machine.storage"),
    ({"is_gpu": True, "memory_value": 100}, "machine.memory_value"),
    ({"is_gpu": True, "cpu_value": 64}, "machine.cpu_value"),
    ({"is_gpu": True, "cpu_value": "2048"}, "machine.cpu_value"),
    ({"is_gpu": "yes"}, "machine.is_gpu"),
    ({"image": "ml"}, "machine.image"),
])
def test_bad_machines_are_refused(machine: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        AwsEcsMachine(**machine)
    assert err.value.field == field and err.value.allowed


@pytest.mark.parametrize(("cpu", "memory"), [(256, 512), (1024, 8192), (4096, 30720), (16384, 122880)])
def test_fargate_sizes_are_accepted(cpu: int, memory: int) -> None:
    m = AwsEcsMachine(cpu_value=cpu, memory_value=memory)
    assert m.job_variables("img:base-1") == {"image": "img:base-1", "cpu": cpu, "memory": memory}
    assert (m.pool_kind, m.variant) == ("cpu", "base")


def test_the_seed_declaration_verbatim() -> None:
    workflow = Workflow(
        machine=AwsEcsMachine(
            is_gpu=True,
            storage=50,
            cpu_value=2048,
            memory_value=4096,
            image=AwsEcsImage.ml,
        ),
    )
    m = workflow.machine
    assert isinstance(m, AwsEcsMachine) and m.pool_kind == "gpu" and m.image == AwsEcsImage("ml")
    assert workflow.module == __name__
    variables = m.job_variables("repo:ml-1a2b", infrastructure_role_arn=ROLE)
    assert variables["gpu_count"] == "1" and variables["image"] == "repo:ml-1a2b"
    assert variables["mount_points"] == [{"sourceVolume": "scratch", "containerPath": SCRATCH_PATH}]
    assert variables["volume_configurations"][0]["managedEBSVolume"]["sizeInGiB"] == 50
    with pytest.raises(ValidationError) as err:
        m.job_variables("repo:ml-1a2b")
    assert err.value.field == "outputs.ecsInfrastructureRoleArn"


def test_images_are_any_variant_name_and_resolve_to_the_hash_tag() -> None:
    assert AwsEcsImage.segmentation_v2.variant == "segmentation_v2"
    assert AwsEcsImage.ml.uri("1.dkr.ecr/app", "ab" * 32) == "1.dkr.ecr/app:ml-" + "ab" * 8
    with pytest.raises(ValidationError):
        AwsEcsImage("ML Big")


def test_workflow_checks_and_the_decorator_form() -> None:
    with pytest.raises(ValidationError, match="workflow.schedule"):
        Workflow(schedule="every day")
    with pytest.raises(ValidationError, match="workflow.tags"):
        Workflow(tags="nightly")
    with pytest.raises(ValidationError, match="workflow.name"):
        Workflow(name="train/x")
    with pytest.raises(ValidationError, match="workflow.machine"):
        Workflow(machine="gpu")  # type: ignore[arg-type]
    wf = Workflow(machine=LocalMachine(), schedule="0 3 * * 1-5")

    def f() -> None:
        pass

    assert wf(f) is f and wf.flow is f


@pytest.mark.parametrize(("branch", "want"), [
    ("feature/x", "feature-x"), ("Feature/JIRA-12_fix", "feature-jira-12-fix"), ("main", "main"),
    ("a" * 80, "a" * 63), ("dependabot/pip/torch-2.5", "dependabot-pip-torch-2-5"),
])
def test_branch_slugs(branch: str, want: str) -> None:
    assert slug(branch) == want


@pytest.mark.parametrize(("env", "want"), [
    ({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "team/app", "GITHUB_REF_NAME": "feature/x", "GITHUB_SHA": SHA},
     GitContext("team/app", "feature/x", SHA, "github")),
    ({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "team/app", "GITHUB_REF_NAME": "12/merge",
      "GITHUB_HEAD_REF": "feature/y", "GITHUB_SHA": SHA}, GitContext("team/app", "feature/y", SHA, "github")),
    ({"GITLAB_CI": "true", "CI_PROJECT_PATH": "group/app", "CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": SHA},
     GitContext("group/app", "main", SHA, "gitlab")),
    ({"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_REPO_FULL_NAME": "ws/app", "BITBUCKET_BRANCH": "fix/z",
      "BITBUCKET_COMMIT": SHA}, GitContext("ws/app", "fix/z", SHA, "bitbucket")),
    ({}, GitContext("team/local", "topic", SHA, "git")),
])
def test_git_context_from_ci_variables_or_git(env: dict[str, str], want: GitContext) -> None:
    answers = {("rev-parse", "--abbrev-ref", "HEAD"): "topic", ("rev-parse", "HEAD"): SHA,
               ("config", "--get", "remote.origin.url"): "git@github.com:team/local.git"}
    assert detect(Path("."), env, git=lambda *a: answers[a]) == want


def test_detached_head_without_ci_needs_a_branch() -> None:
    with pytest.raises(ValidationError, match="branch"):
        detect(Path("."), {}, git=lambda *a: "HEAD" if "--abbrev-ref" in a else SHA)


def test_check_main_refuses_exp_before_the_merge(tmp_path: Path) -> None:
    from tests.images.demo import make_demo

    clean = make_demo(tmp_path / "clean")
    check_main(clean)
    dirty = make_demo(tmp_path / "dirty", exp=("delta==1.0",))
    with pytest.raises(ValidationError) as err:
        check_main(dirty)
    assert err.value.field == "exp" and "delta==1.0" in str(err.value)


class _Dep:
    def __init__(self, name: str, tags: list[str], image: str | None = None) -> None:
        self.id, self.name, self.tags = name, name, tags
        self.job_variables = {"image": image} if image else {}


def test_cleanup_picks_dev_deployments_of_gone_branches_only() -> None:
    deps = [_Dep("train", ["branch:main", "repo:team/app"]),
            _Dep("feature-x", ["dev", "branch:feature/x", "repo:team/app"]),
            _Dep("feature-y", ["dev", "branch:feature/y", "repo:team/app"]),
            _Dep("other", ["dev", "branch:gone", "repo:team/other"])]
    stale = meta.stale_deployments(deps, {"main", "feature/y"}, repo="team/app")
    assert [(d.name, b) for d, b in stale] == [("feature-x", "feature/x")]
    assert meta.referenced_images([_Dep("a", [], "r:ml-1")], [{"containerProperties": {"image": "r:ml-latest"}}]) == {
        "r:ml-1", "r:ml-latest"}


def test_repo_name_from_ci_or_origin() -> None:
    from slipway.flow.gitinfo import repo_of

    assert repo_of(Path("."), {"CI_PROJECT_PATH": "group/app"}, git=lambda *a: "") == "group/app"
    assert repo_of(Path("."), {}, git=lambda *a: "https://github.com/team/app.git") == "team/app"


def test_flows_config_from_pyproject(tmp_path: Path) -> None:
    from slipway.flow.deploy import load_config

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "detector"\n\n[tool.slipway.flows]\npaths = "pipelines"\ntimezone = "Europe/Paris"\n'
        'infrastructure_role_arn = "arn:aws:iam::123456789012:role/r"\n')
    cfg = load_config(tmp_path, schedule="15 4 * * *")
    assert (cfg.paths, cfg.project, cfg.timezone, cfg.schedule) == (("pipelines",), "detector", "Europe/Paris",
                                                                    "15 4 * * *")
    assert cfg.infrastructure_role_arn.endswith(":role/r")
    for bad, field in (("timezone = \"Mars/Olympus\"", "tool.slipway.flows.timezone"),
                       ("schedule = \"daily\"", "tool.slipway.flows.schedule"),
                       ("pathz = []", "tool.slipway.flows")):
        (tmp_path / "pyproject.toml").write_text(f"[tool.slipway.flows]\n{bad}\n")
        with pytest.raises(ValidationError) as err:
            load_config(tmp_path)
        assert err.value.field == field


def test_dev_deployment_names(tmp_path: Path) -> None:
    from slipway.flow.deploy import Declared, FlowsConfig, plan

    pools = {"prefectWorkPools": {"local": "p-local"}}
    declared = [Declared(Workflow(machine=LocalMachine()), "train", "flows/t.py:train", "flows/t.py"),
                Declared(Workflow(machine=LocalMachine(), name="nightly"), "train", "flows/t.py:train", "flows/t.py")]

    def names(branch: str) -> list[str]:
        specs = plan(declared, ctx=GitContext("t/a", branch, SHA, "git"), cfg=FlowsConfig(), outputs=pools,
                     images=None, exp=[], project_dir=tmp_path)
        return [s.full_name for s in specs]

    assert names("main") == ["train/train", "train/nightly"]
    assert names("feature/x") == ["train/feature-x", "train/nightly-feature-x"]
    assert names("train") == ["train/dev-train", "train/nightly-train"]


def test_check_main_command_and_the_summary_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from slipway.cli import cli
    from slipway.flow.deploy import Row, table
    from tests.images.demo import make_demo

    dirty = make_demo(tmp_path / "dirty", exp=("delta==1.0",))
    result = CliRunner().invoke(cli, ["variants", "check-main", "--project", str(dirty)])
    assert result.exit_code == 2 and "error: exp: must be empty to merge into 'main'" in result.output
    clean = make_demo(tmp_path / "clean")
    assert CliRunner().invoke(cli, ["variants", "check-main", "--project", str(clean)]).exit_code == 0
    lines = table([Row("train", "feature-x", "slipway-dev-gpu", "repo:ml-1a2b", "created")]).splitlines()
    assert lines[0].split() == ["flow", "deployment", "work", "pool", "image", "action"]
    assert lines[2].split() == ["train", "feature-x", "slipway-dev-gpu", "repo:ml-1a2b", "created"]

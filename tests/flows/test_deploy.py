"""``slipway flows deploy`` on a sample git repository (made here) against a real Prefect server:
create, no-op rerun, a feature branch's dev deployment, cleanup after the branch is deleted, a bad
declaration refused before anything is created, and a LocalMachine flow run through a real worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from slipway.cli import cli
from slipway.flow.deploy import prefect_client
from tests.flows.conftest import REPO_URL
from tests.flows.sample import commit_all, git, make_repo
from tests.harness.prefect import PrefectServer

# a run of the tests inside some CI must not pick up that CI's branch and commit
NO_CI = {"GITHUB_ACTIONS": None, "GITLAB_CI": None, "BITBUCKET_BUILD_NUMBER": None, "BITBUCKET_COMMIT": None,
         "SLIPWAY_BRANCH": None, "SLIPWAY_COMMIT": None, "SLIPWAY_REGISTRY": None}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("deploy"))


def run_cli(args: list[str], **env: str | None) -> Any:
    result = CliRunner().invoke(cli, args, env={**NO_CI, **env}, catch_exceptions=False)
    return result


def deploy(repo: Path, server: PrefectServer, outputs_file: Path, *extra: str) -> Any:
    return run_cli(["flows", "deploy", "--project", str(repo), "--api-url", server.api_url,
                    "--outputs", str(outputs_file), "--json", *extra])


@pytest.fixture(scope="module")
def outputs_file(outputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def read(server: PrefectServer, name: str) -> Any:
    with prefect_client(server.api_url) as client:
        return client.read_deployment_by_name(name)


def all_deployments(server: PrefectServer) -> list[Any]:
    with prefect_client(server.api_url) as client:
        return list(client.read_deployments())


def test_deploy_create_rerun_branch_cleanup(prefect_server: PrefectServer, outputs: dict[str, Any],
                                             outputs_file: Path, repo: Path) -> None:
    from slipway.flow.deploy import variant_tags

    head = git(repo, "rev-parse", "HEAD")
    first = deploy(repo, prefect_server, outputs_file)
    assert first.exit_code == 0, first.output
    rows = {r["deployment"]: r for r in json.loads(first.stdout)}
    assert {(r["flow"], r["action"]) for r in rows.values()} == {
        ("train", "created"), ("featurize", "created"), ("hello", "created")}
    tags = variant_tags(repo, ["base", "ml"])
    assert rows["train"]["image"] == f"{REPO_URL}:{tags['ml']}"
    assert rows["train"]["work_pool"] == outputs["prefectWorkPools"]["gpu"]
    assert rows["featurize"]["work_pool"] == outputs["prefectWorkPools"]["cpu"]

    train = read(prefect_server, "train/train")
    assert train.version == head
    origin = f"{repo.parent.name}/remote"  # plain git: the repository is named after origin's URL
    assert set(train.tags) == {f"repo:{origin}", "branch:main", f"commit:{head[:12]}", "variant:ml", "gpu"}
    assert [(s.schedule.cron, s.schedule.timezone) for s in train.schedules] == [("0 6 * * *", "UTC")]
    assert train.job_variables["gpu_count"] == "1"
    assert train.job_variables["volume_configurations"][0]["managedEBSVolume"]["sizeInGiB"] == 50
    featurize = read(prefect_server, "featurize/featurize")
    assert featurize.job_variables["ephemeral_storage"] == 30 and "etl" in featurize.tags
    assert [s.schedule.cron for s in featurize.schedules] == ["30 2 * * *"]
    assert read(prefect_server, "hello/hello").schedules == []

    # the same commit again: nothing is sent, nothing changes
    again = deploy(repo, prefect_server, outputs_file)
    assert again.exit_code == 0, again.output
    assert {r["action"] for r in json.loads(again.stdout)} == {"unchanged"}, again.stderr
    assert read(prefect_server, "train/train").updated == train.updated

    # a commit on feature/x: dev deployments named after the branch, main's untouched
    git(repo, "checkout", "-q", "-b", "feature/x")
    (repo / "flows" / "hello.py").write_text((repo / "flows" / "hello.py").read_text() + "\n# tweak\n")
    branch_head = commit_all(repo, "tweak on a branch")
    git(repo, "push", "-q", "origin", "feature/x")
    dev = deploy(repo, prefect_server, outputs_file)
    assert dev.exit_code == 0, dev.output
    assert {(r["flow"], r["deployment"], r["action"]) for r in json.loads(dev.stdout)} == {
        ("train", "feature-x", "created"), ("featurize", "feature-x", "created"), ("hello", "feature-x", "created")}
    dev_train = read(prefect_server, "train/feature-x")
    assert {"dev", "branch:feature/x", f"commit:{branch_head[:12]}"} <= set(dev_train.tags)
    assert dev_train.schedules == [] and dev_train.version == branch_head
    assert read(prefect_server, "train/train").updated == train.updated, "main's deployment is left alone"

    # the branch is deleted in the remote: cleanup (dry run first) removes its dev deployments only
    git(repo, "checkout", "-q", "main")
    git(repo, "push", "-q", "origin", "--delete", "feature/x")
    dry = run_cli(["flows", "cleanup", "--project", str(repo), "--api-url", prefect_server.api_url, "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert sorted(r["name"] for r in planned) == ["featurize/feature-x", "hello/feature-x", "train/feature-x"]
    assert {r["action"] for r in planned} == {"would delete"}
    assert read(prefect_server, "train/feature-x").id == dev_train.id
    done = run_cli(["flows", "cleanup", "--project", str(repo), "--api-url", prefect_server.api_url, "--apply"])
    assert done.exit_code == 0, done.output
    assert "deleted" in done.stdout and "train/feature-x" in done.stdout
    names = {d.name for d in all_deployments(prefect_server)}
    assert "feature-x" not in names and {"train", "featurize", "hello"} <= names


@pytest.mark.parametrize(("source", "field"), [
    ("Workflow(machine=AwsEcsMachine(is_gpu=True, gpus=9))", "machine.gpus"),
    ("Workflow(machine=AwsEcsMachine(cpu_value=3000))", "machine.cpu_value"),
    ("Workflow(machine=AwsEcsMachine(is_gpu=True, storage=0))", "machine.storage"),
    ("Workflow(machine=AwsEcsMachine(image=AwsEcsImage.gpu))", "machine.image"),
    ("Workflow(machine=AwsEcsMachine(), schedule='daily at noon')", "workflow.schedule"),
])
def test_bad_declaration_is_refused_before_anything_is_created(
        prefect_server: PrefectServer, outputs_file: Path, tmp_path: Path, source: str, field: str) -> None:
    repo = make_repo(tmp_path)
    (repo / "flows" / "zzz_bad.py").write_text(
        "from prefect import flow\n\nfrom slipway.flow import AwsEcsImage, AwsEcsMachine, Workflow\n\n\n"
        f"@flow(name='bad-{tmp_path.name[-6:]}')\ndef bad() -> None:\n    pass\n\n\n{source}\n")
    before = {d.id for d in all_deployments(prefect_server)}
    result = deploy(repo, prefect_server, outputs_file, "--branch", f"refused-{tmp_path.name[-6:]}")
    assert result.exit_code == 2, result.output
    assert f"error: {field}:" in result.output and "zzz_bad.py" in result.output
    assert {d.id for d in all_deployments(prefect_server)} == before


@pytest.mark.slow
def test_local_flow_runs_through_a_worker(prefect_server: PrefectServer, outputs_file: Path, repo: Path,
                                          tmp_path: Path) -> None:
    """What the UI's Run button does: a flow run created from the deployment, which a real process
    worker picks up and runs to completion from the repository checkout."""
    import os

    result = deploy(repo, prefect_server, outputs_file, "--path", "flows/hello.py", "--branch", "main")
    assert result.exit_code == 0, result.output
    with prefect_client(prefect_server.api_url) as client:
        dep = client.read_deployment_by_name("hello/hello")
        run = client.create_flow_run_from_deployment(dep.id)
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url, "PREFECT_HOME": str(tmp_path / "home")}
    worker = subprocess.run([str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool",
                             dep.work_pool_name, "--run-once"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    assert "hello slipway from the sample repository" in worker.stdout + worker.stderr
    with prefect_client(prefect_server.api_url) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.type.value == "COMPLETED", state


def test_playbook_deploys_then_reports_no_change(prefect_server: PrefectServer, outputs_file: Path,
                                                 tmp_path: Path) -> None:
    """playbooks/ci_deploy.yml, the same step as an Ansible play: changed once, then not."""
    import os

    from tests.harness.procs import REPO

    repo = make_repo(tmp_path)
    env = {**{k: v for k, v in os.environ.items() if k not in NO_CI}, "HOME": str(tmp_path), "ANSIBLE_NOCOLOR": "1",
            "SLIPWAY_PROJECT_DIR": str(repo), "PREFECT_API_URL": prefect_server.api_url,
           "SLIPWAY_OUTPUTS": str(outputs_file), "SLIPWAY_BRANCH": "playbook/run"}
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/ci_deploy.yml"]
    first = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert "changed=1" in first.stdout and "train  playbook-run" in first.stdout and "created" in first.stdout
    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0" in again.stdout and "unchanged" in again.stdout
    missing = subprocess.run([*argv, "-e", "slipway_deploy_api_url=prefect"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=False, timeout=300)
    assert missing.returncode != 0 and "slipway_deploy_api_url (PREFECT_API_URL" in missing.stdout


USES_DELTA = '''from prefect import flow

from slipway.flow import LocalMachine, Workflow


@flow(name="uses-delta")
def uses_delta() -> str:
    import delta

    print(f"delta {delta.VERSION} is importable")
    return str(delta.VERSION)


Workflow(machine=LocalMachine(), schedule=None)
'''


@pytest.mark.slow
def test_dev_deployment_run_installs_its_exp_group(prefect_server: PrefectServer, outputs_file: Path,
                                                   tmp_path: Path) -> None:
    """A branch adds ``delta`` to the exp group: its dev deployment carries SLIPWAY_EXP, and the run
    installs it at start (the image entry point; for a process worker, the same script as its
    command) into the worker's environment, a throwaway venv layered over the project's here."""
    import os
    import sysconfig

    from tests.images.demo import make_demo

    repo = make_repo(tmp_path)
    git(repo, "checkout", "-q", "-b", "exp/delta")
    make_demo(repo, exp=("delta==1.0",))
    (repo / "flows" / "uses_delta.py").write_text(USES_DELTA)
    commit_all(repo, "try delta")
    result = deploy(repo, prefect_server, outputs_file, "--path", "flows/uses_delta.py")
    assert result.exit_code == 0, result.output
    with prefect_client(prefect_server.api_url) as client:
        dep = client.read_deployment_by_name("uses-delta/exp-delta")
        assert dep.job_variables["env"] == {"SLIPWAY_EXP": "delta==1.0"} and "dev" in dep.tags
        run = client.create_flow_run_from_deployment(dep.id)

    venv = tmp_path / "worker-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "slipway-project.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url, "PREFECT_HOME": str(tmp_path / "home"),
           "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "SLIPWAY_PIP_ARGS": f"--no-index --find-links {repo / 'wheels'}"}
    worker = subprocess.run([str(venv / "bin" / "python"), "-m", "prefect", "worker", "start", "--pool",
                             dep.work_pool_name, "--run-once"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    out = worker.stdout + worker.stderr
    assert worker.returncode == 0, out[-3000:]
    assert "installing exp group: delta==1.0" in out and "delta 1.0 is importable" in out, out[-3000:]
    with prefect_client(prefect_server.api_url) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.type.value == "COMPLETED", state


def test_deploy_runs_the_image_step_first(prefect_server: PrefectServer, outputs: dict[str, Any], moto_server: Any,
                                          tmp_path: Path) -> None:
    """With --registry the existing image step runs for the variants the workflows use; images whose
    hash tag exists (here: pushed to moto's ECR beforehand) are not rebuilt, and the deployments
    point at exactly those tags."""
    import boto3

    from slipway.flow.deploy import variant_tags
    from tests.flows.test_meta import _manifest
    from tests.harness.moto import CREDENTIALS, REGION

    repo = make_repo(tmp_path)
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_server.url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    uri = ecr.create_repository(repositoryName="slipway/test/demo")["repository"]["repositoryUri"]
    tags = variant_tags(repo, ["base", "ml"])
    for n, tag in enumerate(tags.values(), start=1):
        ecr.put_image(repositoryName="slipway/test/demo", imageManifest=_manifest(n), imageTag=tag)
    out_file = tmp_path / "outputs.json"
    out_file.write_text(json.dumps({**outputs, "ecrRepositoryUrls": {"demo": uri}}))
    result = run_cli(["flows", "deploy", "--project", str(repo), "--api-url", prefect_server.api_url,
                      "--outputs", str(out_file), "--registry", f"ecr://{REGION}", "--endpoint-url", moto_server.url,
                      "--branch", "images/check", "--json"], **CREDENTIALS)
    assert result.exit_code == 0, result.output
    assert f"image ml: {tags['ml']} unchanged" in result.stderr and f"image base: {tags['base']} unchanged" in result.stderr
    rows = {r["flow"]: r for r in json.loads(result.stdout)}
    assert rows["train"]["image"] == f"{uri}:{tags['ml']}" and rows["featurize"]["image"] == f"{uri}:{tags['base']}"
    assert rows["hello"]["image"] == "-"


def test_the_cleanup_flow_removes_a_deleted_branchs_deployments(prefect_server: PrefectServer, outputs_file: Path,
                                                               tmp_path: Path) -> None:
    """The meta-flow itself (run in process, as a worker would run its deployment): the dev
    deployments of a branch deleted from the remote go; main's and live branches' stay."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from slipway.flow.meta import cleanup

    repo = make_repo(tmp_path)
    for branch in ("gone/soon", "stays/here"):
        git(repo, "push", "-q", "origin", f"main:{branch}")
        result = deploy(repo, prefect_server, outputs_file, "--path", "flows/hello.py", "--branch", branch)
        assert result.exit_code == 0, result.output
    git(repo, "push", "-q", "origin", "--delete", "gone/soon")
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        rows = cleanup(project_dir=str(repo), dry_run=False)
        APILogWorker.drain_all(timeout=10)  # deliver the run's logs and events while the URL is set
        EventsWorker.drain_all(timeout=10)
    assert [(r["name"], r["action"]) for r in rows] == [("hello/gone-soon", "deleted")]
    names = {d.name for d in all_deployments(prefect_server)}
    assert "gone-soon" not in names and "stays-here" in names


def test_cleanup_command_removes_unreferenced_images(prefect_server: PrefectServer, outputs: dict[str, Any],
                                                     moto_server: Any, tmp_path: Path) -> None:
    """``slipway flows cleanup --ecr-repository``: images no deployment, job definition or -latest
    tag references go (dry run first); the one a deployment runs stays."""
    import boto3

    from tests.flows.test_meta import _manifest
    from tests.harness.moto import CREDENTIALS, REGION

    repo = make_repo(tmp_path)
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_server.url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "slipway/test/cleanup"
    uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    from slipway.flow.deploy import variant_tags

    used = variant_tags(repo, ["base", "ml"])
    for n, tag in enumerate([*used.values(), "ml-0000000000000000", "base-latest"], start=11):
        ecr.put_image(repositoryName=name, imageManifest=_manifest(n), imageTag=tag)
    out_file = tmp_path / "outputs.json"
    out_file.write_text(json.dumps({**outputs, "ecrRepositoryUrls": {"demo": uri}}))
    git(repo, "push", "-q", "origin", "main:cleanup/images")  # a live branch: its deployments stay
    assert deploy(repo, prefect_server, out_file, "--branch", "cleanup/images").exit_code == 0
    args = ["flows", "cleanup", "--project", str(repo), "--api-url", prefect_server.api_url, "--ecr-repository",
            name, "--region", REGION, "--endpoint-url", moto_server.url, "--grace-days", "0"]
    dry = run_cli([*args, "--json"], **CREDENTIALS)
    assert dry.exit_code == 0, dry.output
    assert [(r["kind"], r["name"], r["action"]) for r in json.loads(dry.stdout)] == [
        ("image", f"{name}:ml-0000000000000000", "would delete")]
    done = run_cli([*args, "--apply"], **CREDENTIALS)
    assert done.exit_code == 0, done.output
    left = {t for img in ecr.describe_images(repositoryName=name)["imageDetails"] for t in img.get("imageTags", [])}
    assert left == {*used.values(), "base-latest"}
    missing = run_cli([*args[:-2], "--ecr-repository", "no/such-repo"], **CREDENTIALS)
    assert missing.exit_code == 1 and "RepositoryNotFoundException" in missing.output

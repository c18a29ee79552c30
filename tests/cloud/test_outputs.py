"""Reading stack outputs: the ``slipway cloud`` CLI and the ``slipway.infra.pulumi_output`` lookup
(run by real ansible-playbook).

The Pulumi CLI cannot be downloaded here, so a stand-in ``pulumi`` executable answers
``pulumi stack output --json [--stack S] [--show-secrets]`` from a JSON file the way the real one
does (secrets as ``[secret]`` unless --show-secrets) and records its arguments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from slipway.cloud.cli import cloud
from slipway.cloud.outputs import pick, stack_outputs
from slipway.errors import NotFound, SlipwayError

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = {
    "environment": "dev",
    "region": "eu-west-1",
    "ecrRepositoryUrls": {"detector": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/dev/detector"},
    "batchJobQueueArns": {"cpu": "arn:aws:batch:eu-west-1:123456789012:job-queue/slipway-dev-cpu",
                          "gpu": "arn:aws:batch:eu-west-1:123456789012:job-queue/slipway-dev-gpu"},
    "batchJobDefinitions": {"detector": "slipway-dev-ml-detector"},
    "prefectWorkPools": {"cpu": "slipway-dev-cpu", "gpu": "slipway-dev-gpu", "local": "slipway-dev-local"},
}
SECRET = {"apiToken": "tok-plaintext-1234"}

STAND_IN = """#!{python}
# Stand-in for the Pulumi CLI (tests only): `stack output --json` from a file, like the real one.
import json, sys
args = sys.argv[1:]
with open({record!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if args[:2] != ["stack", "output"] or "--json" not in args:
    sys.exit("unsupported: " + " ".join(args))
stack = args[args.index("--stack") + 1] if "--stack" in args else "dev"
try:
    data = json.load(open({store!r}))[stack]
except KeyError:
    sys.stderr.write("error: no stack named '" + stack + "' found\\n")
    sys.exit(255)
for k, v in data.pop("__secret__", {{}}).items():
    data[k] = v if "--show-secrets" in args else "[secret]"
print(json.dumps(data, indent=4))
"""


@pytest.fixture
def pulumi_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "stacks.json"
    store.write_text(json.dumps({"dev": {**OUTPUTS, "__secret__": SECRET}}))
    record = tmp_path / "calls.jsonl"
    exe = bindir / "pulumi"
    exe.write_text(STAND_IN.format(python=sys.executable, record=str(record), store=str(store)))
    exe.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "pulumi" / "Pulumi.yaml", project / "Pulumi.yaml")
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("SLIPWAY_PULUMI_DIR", str(project))
    return {"record": record, "project": project}


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_stack_outputs_and_paths(pulumi_cli: dict[str, Path]) -> None:
    out = stack_outputs("dev")
    assert out["apiToken"] == "[secret]"
    assert pick(out, "ecrRepositoryUrls.detector").endswith("/slipway/dev/detector")
    assert calls(pulumi_cli["record"]) == [["stack", "output", "--json", "--non-interactive", "--stack", "dev"]]
    assert stack_outputs("dev", show_secrets=True)["apiToken"] == "tok-plaintext-1234"
    with pytest.raises(NotFound, match="ecrRepositoryUrls has no 'segmenter'; it has: detector"):
        pick(out, "ecrRepositoryUrls.segmenter")
    with pytest.raises(SlipwayError, match="no stack named 'prod'"):
        stack_outputs("prod")
    with pytest.raises(SlipwayError, match="is not on PATH"):
        stack_outputs("dev", pulumi_bin="pulumi-not-installed")


def test_cli_outputs_table_and_json(pulumi_cli: dict[str, Path]) -> None:
    runner = CliRunner()
    res = runner.invoke(cloud, ["outputs", "--stack", "dev"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["OUTPUT", "VALUE"]
    assert any(line.split() == ["batchJobQueueArns.gpu", OUTPUTS["batchJobQueueArns"]["gpu"]] for line in lines)
    assert "tok-plaintext-1234" not in res.output
    res = runner.invoke(cloud, ["outputs", "--stack", "dev", "--json", "prefectWorkPools.gpu", "region"])
    assert json.loads(res.output) == {"prefectWorkPools.gpu": "slipway-dev-gpu", "region": "eu-west-1"}


def test_cli_check_validates_stack_files(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cloud, ["check", "--stack", "prod"])
    assert res.exit_code == 0, res.output
    assert "slipway-prod-ml-segmenter" in res.output and "slipway-prod-gpu (priority 100)" in res.output
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy(REPO / "pulumi" / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.bad.yaml").write_text(textwrap.dedent("""\
        config:
          aws:region: eu-west-1
          slipway:vpcId: vpc-0a1b2c3d4e5f60718
          slipway:subnetIds: [subnet-0a1b2c3d4e5f60001]
          slipway:keepImages: -3
          slipway:slackWebhookUrl:
            secure: v1:AAAA
        """))
    res = subprocess.run([str(Path(sys.executable).parent / "slipway"), "cloud", "check", "--stack", "bad", "--dir",
                          str(project)], capture_output=True, text=True, check=False)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "error: slipway:keepImages: is out of range (got -3); allowed: 1 to 1000"


def test_config_reference_command_matches_pulumi_yaml() -> None:
    res = CliRunner().invoke(cloud, ["config-reference"])
    assert res.output in (REPO / "pulumi" / "Pulumi.yaml").read_text()


def test_pools_command_lists_pools(prefect_server: Any) -> None:
    from slipway.cloud import templates
    from slipway.cloud.prefect_api import PrefectApi

    api = PrefectApi(prefect_server.api_url)
    api.create_work_pool({"name": "slipway-cli-local", "type": "process",
                          "base_job_template": templates.process_template()})
    res = CliRunner().invoke(cloud, ["pools", "--api-url", prefect_server.api_url])
    assert res.exit_code == 0, res.output
    assert any(line.split()[:2] == ["slipway-cli-local", "process"] for line in res.output.splitlines())
    api.delete_work_pool("slipway-cli-local")


def _playbook(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    play = tmp_path / "play.yml"
    play.write_text(body)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_lookup_plugin_in_a_playbook(pulumi_cli: dict[str, Path], tmp_path: Path) -> None:
    res = _playbook(tmp_path, textwrap.dedent("""\
        - name: Read stack outputs
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Read
              ansible.builtin.set_fact:
                repo_url: "{{ lookup('slipway.infra.pulumi_output', 'ecrRepositoryUrls.detector', stack='dev') }}"
                queues: "{{ lookup('slipway.infra.pulumi_output', 'batchJobQueueArns', stack='dev') }}"
                everything: "{{ lookup('slipway.infra.pulumi_output', stack='dev') }}"
                missing: "{{ lookup('slipway.infra.pulumi_output', 'ecrRepositoryUrls.nope', stack='dev',
                                    default='none') }}"
        """))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    facts = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["ansible_facts"]
    assert facts["repo_url"] == OUTPUTS["ecrRepositoryUrls"]["detector"]
    assert facts["queues"] == OUTPUTS["batchJobQueueArns"]
    assert facts["everything"]["apiToken"] == "[secret]"
    assert facts["missing"] == "none"
    assert len(calls(pulumi_cli["record"])) == 1, "one CLI call per stack per run"


def test_lookup_plugin_errors_name_the_output(pulumi_cli: dict[str, Path], tmp_path: Path) -> None:
    res = _playbook(tmp_path, textwrap.dedent("""\
        - name: Read a missing output
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Read
              ansible.builtin.debug:
                msg: "{{ lookup('slipway.infra.pulumi_output', 'ecrRepositoryUrls.segmenter', stack='dev') }}"
        """))
    assert res.returncode != 0
    assert "ecrRepositoryUrls has no 'segmenter'; it has: detector" in res.stdout


def test_lookup_plugin_documentation_renders() -> None:
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "lookup",
                          "slipway.infra.pulumi_output"], cwd=REPO, capture_output=True, text=True, check=False,
                         env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert res.returncode == 0, res.stderr
    assert "show_secrets" in res.stdout and "pulumi stack output --json" in res.stdout


def test_cli_imports_neither_pulumi_nor_prefect() -> None:
    code = ("import sys, slipway.cloud.cli, slipway.cloud.settings, slipway.cloud.outputs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'prefect')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
    res = subprocess.run([str(Path(sys.executable).parent / "slipway"), "--help"], capture_output=True, text=True,
                         check=True)
    assert "cloud" in res.stdout

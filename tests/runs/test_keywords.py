"""Commit keywords: a table for every keyword and every error, and properties over any message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slipway.errors import ValidationError
from slipway.runs.keywords import Limits, RunRequest, limits_from_batch, parse
from slipway.runs.plan import Commit, Target, job_name, plan_commit

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
LIM = Limits(vcpus=4, memory=16384, gpus=0, max_vcpus=64, max_memory=262144, max_gpus=8)
NO_GPU = Limits(vcpus=4, memory=16384, gpus=0, max_vcpus=64, max_memory=262144, max_gpus=0)


@pytest.mark.parametrize(("message", "expected"), [
    ("plain message", None),
    ("x\n:SLIPWAY_RUN:", RunRequest("repro")),
    ("x\n:SLIPWAY_RUN: --single-item featurize", RunRequest("repro", ("--single-item", "featurize"))),
    (":SLIPWAY_RUN: 'a b' \"c d\" e\\ f", RunRequest("repro", ("a b", "c d", "e f"))),
    (":SLIPWAY_RUN: ; rm -rf / $(id) `x` | y", RunRequest("repro", (";", "rm", "-rf", "/", "$(id)", "`x`", "|", "y"))),
    (":SLIPWAY_RUN:\n:SLIPWAY_RUN_EXP: --set-param lr=0.1", RunRequest("exp", ("--set-param", "lr=0.1"))),
    (":SLIPWAY_RUN: -S lr=1\n:SLIPWAY_RUN_EXP:", RunRequest("exp", ("-S", "lr=1"))),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS:", RunRequest("repro", gpus=1)),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: 0", RunRequest("repro", gpus=0)),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: 8", RunRequest("repro", gpus=8)),
    (":SLIPWAY_RUN:\n:SLIPWAY_MEMORY: 32768", RunRequest("repro", memory=32768)),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 16", RunRequest("repro", vcpus=16)),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 16\n:SLIPWAY_VCPUS: 16", RunRequest("repro", vcpus=16)),
    (":SLIPWAY_RUN:   \r\n", RunRequest("repro")),
    # not at the start of its line, other case, other prefix: prose
    ("see  :SLIPWAY_RUN: x", None),
    (" :SLIPWAY_RUN: x", None),
    (":slipway_run: x", None),
    (":ACME_RUN: x", None),
    (":SLIPWAYS_RUN: x", None),
    (":SLIPWAY_GPUS: 2\n:SLIPWAY_MEMORY: 1024", None),
])
def test_keywords(message: str, expected: RunRequest | None) -> None:
    assert parse(message, LIM) == expected


@pytest.mark.parametrize(("message", "limits", "keyword", "words"), [
    (":SLIPWAY_RUNS: x", LIM, ":SLIPWAY_RUNS:", "unknown keyword"),
    (":SLIPWAY_GPU: 1", LIM, ":SLIPWAY_GPU:", "unknown keyword"),
    (":SLIPWAY:", LIM, ":SLIPWAY:", "unknown keyword"),
    (":SLIPWAY_RUN:\n:SLIPWAY_MEMORY:", LIM, ":SLIPWAY_MEMORY:", "needs a value"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS:", LIM, ":SLIPWAY_VCPUS:", "needs a value"),
    (":SLIPWAY_RUN:\n:SLIPWAY_MEMORY: lots", LIM, ":SLIPWAY_MEMORY:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_MEMORY: 32 GiB", LIM, ":SLIPWAY_MEMORY:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 1.5", LIM, ":SLIPWAY_VCPUS:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: -1", LIM, ":SLIPWAY_VCPUS:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: two", LIM, ":SLIPWAY_GPUS:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: \u0662", LIM, ":SLIPWAY_VCPUS:", "whole number"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 0", LIM, ":SLIPWAY_VCPUS:", "out of range"),
    (":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 65", LIM, ":SLIPWAY_VCPUS:", "out of range"),
    (":SLIPWAY_RUN:\n:SLIPWAY_MEMORY: 999999999", LIM, ":SLIPWAY_MEMORY:", "out of range"),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: 9", LIM, ":SLIPWAY_GPUS:", "out of range"),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: 2\n:SLIPWAY_GPUS: 4", LIM, ":SLIPWAY_GPUS:", "twice with different values"),
    (":SLIPWAY_RUN: a\n:SLIPWAY_RUN: b", LIM, ":SLIPWAY_RUN:", "twice with different values"),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS:", NO_GPU, ":SLIPWAY_GPUS:", "queue has none"),
    (":SLIPWAY_RUN:\n:SLIPWAY_GPUS: 1", NO_GPU, ":SLIPWAY_GPUS:", "queue has none"),
    (":SLIPWAY_RUN: 'unbalanced", LIM, ":SLIPWAY_RUN:", "cannot split"),
    (":SLIPWAY_RUN:\n:SLIPWAY_RUN_EXP: \"x", LIM, ":SLIPWAY_RUN_EXP:", "cannot split"),
    (":SLIPWAY_RUN: trailing\\", LIM, ":SLIPWAY_RUN:", "cannot split"),
    (":SLIPWAY_RUN_EXP: -S a=1", LIM, ":SLIPWAY_RUN_EXP:", "needs :SLIPWAY_RUN:"),
])
def test_errors_name_the_keyword(message: str, limits: Limits, keyword: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(message, limits)
    assert err.value.field == keyword
    assert words in str(err.value)
    assert err.value.allowed  # says what is allowed


def test_prefix_is_configurable() -> None:
    assert parse(":ACME_RUN: x\n:ACME_GPUS: 2", LIM, prefix="ACME") == RunRequest("repro", ("x",), gpus=2)
    assert parse(":SLIPWAY_RUN: x", LIM, prefix="ACME") is None
    with pytest.raises(ValidationError, match="prefix"):
        parse("x", LIM, prefix="acme; rm")


def test_limits_from_batch_descriptions() -> None:
    jd = {"containerProperties": {"resourceRequirements": [
        {"type": "VCPU", "value": "8"}, {"type": "MEMORY", "value": "30000"}, {"type": "GPU", "value": "1"}]}}
    cpu = [{"computeResources": {"maxvCpus": 256, "instanceTypes": ["c6i", "m6i"]}}]
    gpu = [{"computeResources": {"maxvCpus": 64, "instanceTypes": ["g5"]}}]
    lim = limits_from_batch(jd, cpu, gpu)
    assert lim == Limits(vcpus=8, memory=30000, gpus=1, max_vcpus=128, max_memory=768 * 1024, max_gpus=8)
    assert limits_from_batch(jd, cpu).max_gpus == 0
    assert limits_from_batch(jd, cpu).gpus == 0


def test_plan_picks_queue_and_resources() -> None:
    target = Target("slipway-dev-ml-detector", "slipway-dev-cpu", "slipway-dev-gpu", LIM)
    sha = "0123456789abcdef0123456789abcdef01234567"
    cpu = plan_commit(Commit("team/detector", sha, ":SLIPWAY_RUN: -s train\n:SLIPWAY_MEMORY: 2048"), target)
    assert cpu is not None
    assert (cpu.job_name, cpu.queue, cpu.memory, cpu.vcpus, cpu.gpus) == (
        "detector-0123456", "slipway-dev-cpu", 2048, 4, 0)
    assert cpu.command == ("slipway", "runs", "job", "--mode", "repro", "--", "-s", "train")
    assert cpu.resource_requirements() == [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "2048"}]
    gpu = plan_commit(Commit("detector", sha, ":SLIPWAY_RUN:\n:SLIPWAY_RUN_EXP:\n:SLIPWAY_GPUS:"), target)
    assert gpu is not None and gpu.queue == "slipway-dev-gpu" and gpu.gpus == 1
    assert gpu.dvc_argv == ("dvc", "exp", "run")
    assert {"type": "GPU", "value": "1"} in gpu.resource_requirements()
    assert job_name("My.Repo.git", sha) == "My-Repo-0123456"
    with pytest.raises(ValidationError, match="commit"):
        plan_commit(Commit("detector", "not-a-sha", ":SLIPWAY_RUN:"), target)


# -- properties ------------------------------------------------------------------------------------
_KW = st.sampled_from([":SLIPWAY_RUN:", ":SLIPWAY_RUN_EXP:", ":SLIPWAY_GPUS:", ":SLIPWAY_MEMORY:",
                       ":SLIPWAY_VCPUS:", ":SLIPWAY_", ":SLIPWAY_X:", ":SLIPWAY:", "", " "])
_VALUE = st.one_of(st.text(max_size=30), st.integers(-5, 10**12).map(str),
                   st.sampled_from(["'", '"', "\\", "$(id)", "`id`", "; rm -rf /", "a 'b c'", "\x00", "\u0663"]))
_LINE = st.tuples(_KW, st.sampled_from(["", " ", "\t"]), _VALUE).map(lambda t: "".join(t))
_MESSAGE = st.one_of(st.text(max_size=200), st.lists(_LINE, max_size=8).map("\n".join))
_LIMITS = st.builds(Limits, vcpus=st.integers(1, 64), memory=st.integers(4, 10**6), gpus=st.integers(0, 8),
                    max_vcpus=st.integers(0, 256), max_memory=st.integers(0, 10**7), max_gpus=st.integers(0, 8))


@settings(max_examples=300, deadline=None)
@given(message=_MESSAGE, limits=_LIMITS)
def test_any_message_is_a_plan_or_our_error(message: str, limits: Limits) -> None:
    target = Target("jd", "cpu", "gpu" if limits.max_gpus else None, limits)
    try:
        plan = plan_commit(Commit("repo", "abcdef0", message), target)
    except ValidationError as exc:
        assert exc.field.startswith(":SLIPWAY") or exc.field in {"gpus"}
        return
    if plan is None:
        assert ":SLIPWAY_RUN:" not in message
        return
    assert plan.command[:6] == ("slipway", "runs", "job", "--mode", plan.mode, "--")
    assert all(isinstance(a, str) and "\x00" not in a for a in plan.command)
    assert 0 <= plan.gpus <= limits.max_gpus
    assert plan.queue == ("gpu" if plan.gpus else "cpu")


@settings(max_examples=100, deadline=None)
@given(args=st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                             min_size=1, max_size=12), max_size=5))
def test_args_round_trip_as_argv(args: list[str]) -> None:
    import shlex

    request = parse(":SLIPWAY_RUN: " + shlex.join(args), LIM)
    assert request is not None
    assert request.args == tuple(args)


# -- the CLI face and the hook -----------------------------------------------------------------------
def _plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from slipway.cli import main; main()", "runs", "plan", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_plan_cli_on_the_seed_examples() -> None:
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    one = _plan("--message-file", str(DATA / "seed-1.txt"), "--repo", "detector", "--commit", sha,
                "--prefix", "ACME", "--environment", "prod", "--json")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout) == {
        "job_name": "detector-89abcde", "queue": "slipway-prod-cpu", "job_definition": "slipway-prod-ml-detector",
        "command": ["slipway", "runs", "job", "--mode", "repro", "--", "--single-item", "featurize_data"],
        "vcpus": 4, "memory": 32768, "gpus": 0, "repo": "detector", "commit": sha, "mode": "repro"}
    two = _plan("--message-file", str(DATA / "seed-2.txt"), "--repo", "detector", "--commit", sha,
                "--prefix", "ACME")
    assert two.returncode == 0, two.stderr
    assert "slipway-dev-gpu" in two.stdout and '["dvc", "exp", "run", "--params", "learning_rate=0.01"]' in two.stdout
    three = _plan("--message-file", str(DATA / "seed-3.txt"), "--prefix", "ACME")
    assert three.returncode == 3 and "nothing would run" in three.stdout


def test_plan_cli_errors_and_targets(tmp_path: Path) -> None:
    msg = tmp_path / "msg"
    msg.write_text("x\n:SLIPWAY_RUN:\n:SLIPWAY_GPUS: 1\n")
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"job_definition": "jd", "cpu_queue": "q"}))
    bad = _plan("--message-file", str(msg), "--repo", "r", "--commit", "abcdef0", "--targets", str(targets))
    assert bad.returncode == 2
    assert ":SLIPWAY_GPUS:" in bad.stderr and "queue has none" in bad.stderr
    msg.write_text(":SLIPWAY_MEMRY: 10\n")
    typo = _plan("--message-file", str(msg), "--repo", "r", "--commit", "abcdef0")
    assert typo.returncode == 2 and "unknown keyword" in typo.stderr and ":SLIPWAY_MEMORY:" in typo.stderr


def test_pre_commit_hook_runs_the_plan_check(tmp_path: Path) -> None:
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    hook = hooks["slipway-runs-plan"]
    assert hook["stages"] == ["commit-msg"]
    assert hook["entry"].startswith("slipway runs plan --check --message-file")
    # what pre-commit runs: the entry's words, then the message file
    args = hook["entry"].split()[1:]
    for text, code in [("prose only\n", 0), ("x\n:SLIPWAY_RUN: -s train\n", 0), ("x\n:SLIPWAY_RUNN:\n", 2)]:
        msg = tmp_path / "COMMIT_EDITMSG"
        msg.write_text(text)
        done = subprocess.run([sys.executable, "-c", "from slipway.cli import main; main()", *args, str(msg)],
                              capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
        assert done.returncode == code, (text, done.stdout, done.stderr)

"""The job runner's own rules (inputs, credentials, failures) without a container; the full run is in
test_e2e.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.errors import ValidationError
from slipway.runs.job import JobResult, JobSpec, _exp_name, _git_env, run_job
from tests.harness.moto import Moto
from tests.harness.procs import free_port

ENV = {"SLIPWAY_RUN_REPO": "detector", "SLIPWAY_RUN_COMMIT": "ABCDEF0123", "SLIPWAY_RUN_CLONE_URL": "git://x/r.git"}


def test_spec_from_env() -> None:
    spec = JobSpec.from_env(ENV, "exp", ["-S", "lr=1"])
    assert (spec.commit, spec.sha7, spec.mode, spec.args) == ("abcdef0123", "abcdef0", "exp", ("-S", "lr=1"))
    for key, value, field in [("SLIPWAY_RUN_COMMIT", "", "SLIPWAY_RUN_COMMIT"),
                              ("SLIPWAY_RUN_COMMIT", "main; rm -rf /", "SLIPWAY_RUN_COMMIT"),
                              ("SLIPWAY_RUN_CLONE_URL", "", "SLIPWAY_RUN_CLONE_URL"),
                              ("SLIPWAY_STATUS_API", "gitlab", "SLIPWAY_STATUS_API")]:
        with pytest.raises(ValidationError) as err:
            JobSpec.from_env({**ENV, key: value}, "repro", [])
        assert err.value.field == field
    with pytest.raises(ValidationError, match="--mode"):
        JobSpec.from_env(ENV, "shell", [])


def test_token_reaches_git_through_its_environment_only() -> None:
    spec = JobSpec.from_env({**ENV, "SLIPWAY_RUN_CLONE_URL": "https://git.example/r.git",
                             "SLIPWAY_GIT_TOKEN": "tok-123"}, "repro", [])
    assert "tok-123" not in repr(spec)
    env = _git_env(spec, spec.git_token)
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert not any(k.startswith("SLIPWAY_GIT") for k in env)  # DVC stages never see the token variable
    assert "GIT_CONFIG_COUNT" not in _git_env(JobSpec.from_env(ENV, "repro", []), "tok-123")  # git:// gets none


def test_exp_name_from_args() -> None:
    assert _exp_name(["-S", "a=1", "--name", "big"]) == "big"
    assert _exp_name(["-n", "x"]) == "x" and _exp_name(["--name=y"]) == "y" and _exp_name(["-S", "a"]) is None


def test_failed_step_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    seen: list[JobResult] = []
    spec = JobSpec.from_env({**ENV, "SLIPWAY_RUN_CLONE_URL": f"git://127.0.0.1:{free_port()}/none.git",
                             "SLIPWAY_RUN_WORKDIR": str(tmp_path)}, "repro", [])
    result = run_job(spec, reporters=[lambda s, r: seen.append(r)])
    assert result.exit_code != 0 and not result.ok
    assert result.summary.startswith("clone failed") and seen == [result]
    assert result.steps[0]["step"] == "clone"


def test_commit_status_shapes_and_slack() -> None:
    from slipway.runs.job import commit_status, slack
    from tests.harness.slack import SlackReceiver

    api, chat = SlackReceiver(), SlackReceiver()
    host, port = api.server.server_address[:2]
    try:
        base = {**ENV, "SLIPWAY_STATUS_API_URL": f"http://{host!s}:{port}", "SLIPWAY_STATUS_TOKEN": "t0k",
                "SLIPWAY_STATUS_REPO": "team/detector", "SLIPWAY_SLACK_WEBHOOK": chat.url}
        failed = JobResult("detector", "abcdef0123", "repro", exit_code=3, summary="`dvc repro` failed")
        spec = JobSpec.from_env({**base, "SLIPWAY_STATUS_API": "bitbucket"}, "repro", [])
        commit_status(spec, failed)
        slack(spec, failed)
        (post,) = api.posts
        assert post.path == "/2.0/repositories/team/detector/commit/abcdef0123/statuses/build"
        assert (post.body["state"], post.body["key"]) == ("FAILED", "slipway-run")
        assert "failed (exit 3)" in chat.texts()[0]
        commit_status(JobSpec.from_env({**ENV, "SLIPWAY_STATUS_API": "github"}, "repro", []), failed)
        assert len(api.posts) == 1  # no token: no status
    finally:
        api.stop()
        chat.stop()


def test_credentials_from_secrets_manager(moto_plain: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from slipway.runs.job import resolve_secrets
    from tests.harness.moto import CREDENTIALS, REGION

    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    moto_plain.reset()
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_plain.url)
    sm.create_secret(Name="slipway/test/git-token", SecretString="tok-from-sm")
    sm.create_secret(Name="slipway/test/slack", SecretString="https://hooks.example/x")
    env = {**ENV, **CREDENTIALS, "AWS_ENDPOINT_URL": moto_plain.url, "SLIPWAY_GIT_TOKEN_SECRET": "slipway/test/git-token",
           "SLIPWAY_SLACK_WEBHOOK_SECRET": "slipway/test/slack", "SLIPWAY_STATUS_TOKEN": "plain-wins",
           "SLIPWAY_STATUS_TOKEN_SECRET": "slipway/test/absent"}
    spec = resolve_secrets(JobSpec.from_env(env, "repro", []), env)
    assert (spec.git_token, spec.slack_webhook, spec.status_token) == (
        "tok-from-sm", "https://hooks.example/x", "plain-wins")

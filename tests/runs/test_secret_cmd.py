"""`slipway runs secret set`: the webhook's secrets written into moto's Secrets Manager, from stdin,
validated first, never echoed; the webhook accepts a new value after its TTL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from slipway.runs.service import webhook_secret_text
from tests.harness.moto import CREDENTIALS, REGION
from tests.runs.conftest import ENV, GITHUB_SECRET, UUID, BatchStack

NEW_SECRET = "0123456789abcdef-new-hmac-secret"
NEW_UUID = "{AAAAAAAA-1111-4222-8333-444444444444}"


def _secret_set(stack: BatchStack, kind: str, value: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": stack.url}
    return subprocess.run([sys.executable, "-c", "from slipway.cli import main; main()", "runs", "secret", "set",
                           kind, "--environment", ENV, *extra], input=value, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def _value(stack: BatchStack, name: str) -> str:
    return str(stack.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def test_github_secret_is_written_from_stdin_and_never_printed(stack: BatchStack) -> None:
    done = _secret_set(stack, "github", f"{NEW_SECRET}\n")
    assert done.returncode == 0, done.stderr
    assert f"slipway/{ENV}/github-webhook-secret" in done.stdout and "ENTRIES" in done.stdout
    assert NEW_SECRET not in done.stdout + done.stderr
    assert _value(stack, stack.github_secret) == NEW_SECRET
    rotating = json.dumps([NEW_SECRET, GITHUB_SECRET + "-long-enough"])
    assert _secret_set(stack, "github", rotating).returncode == 0
    assert json.loads(_value(stack, stack.github_secret)) == json.loads(rotating)


def test_the_webhook_accepts_the_new_secret_without_a_restart(stack: BatchStack) -> None:
    from tests.runs.test_webhook import gh_headers, github_push, make_client

    client = make_client(stack, secrets_ttl=0)
    body = github_push("detector", [("1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "prose only")])
    assert client.post("/webhooks/github", content=body, headers=gh_headers(body)).status_code == 200
    assert _secret_set(stack, "github", NEW_SECRET).returncode == 0
    assert client.post("/webhooks/github", content=body, headers=gh_headers(body)).status_code == 403
    assert client.post("/webhooks/github", content=body, headers=gh_headers(body, NEW_SECRET)).status_code == 200


def test_bitbucket_uuids_one_per_line(stack: BatchStack) -> None:
    done = _secret_set(stack, "bitbucket-uuids", f"{UUID}\n{NEW_UUID}\n{UUID}\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(_value(stack, stack.uuids_secret)) == sorted({UUID, NEW_UUID})
    assert NEW_UUID not in done.stdout + done.stderr


@pytest.mark.parametrize(("kind", "value", "words"), [
    ("github", "tiny-9f", "shorter than 16 characters"),
    ("github", "", "value: is empty"),
    ("github", "line-one-long-enough\nline-two-long-enough", "several lines"),
    ("github", "[not json", "not a JSON list"),
    ("bitbucket-uuids", "{d1b8a3c2-0000-4000-8000-00000000000}", "entry 1 is not a UUID"),
    ("bitbucket-uuids", '[1, 2]', "JSON list of strings"),
])
def test_bad_values_write_nothing_and_are_not_echoed(stack: BatchStack, kind: str, value: str, words: str) -> None:
    name = stack.github_secret if kind == "github" else stack.uuids_secret
    before = _value(stack, name)
    done = _secret_set(stack, kind, value)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    if value:
        assert value not in done.stdout + done.stderr
    assert _value(stack, name) == before


def test_a_secret_the_stack_has_not_made_is_an_error(stack: BatchStack) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from slipway.cli import main; main()", "runs", "secret", "set", "github",
         "--environment", "nostack"], input=NEW_SECRET,
        env={**os.environ, **CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": stack.url},
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "deploy the stack first" in done.stderr, done.stderr
    assert NEW_SECRET not in done.stderr


def test_stored_text_matches_what_the_webhook_reads() -> None:
    from slipway.runs.aws import secret_list

    value, n = webhook_secret_text("github", json.dumps([NEW_SECRET, NEW_SECRET + "2"]))
    assert secret_list(value) == [NEW_SECRET, NEW_SECRET + "2"] and n == 2
    value, n = webhook_secret_text("github", NEW_SECRET)
    assert secret_list(value) == [NEW_SECRET] and n == 1

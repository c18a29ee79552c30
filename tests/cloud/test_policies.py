"""The least-privilege check itself: it must catch what it claims to catch."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.cloud import policies


@pytest.mark.parametrize(("statement", "words"), [
    ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "wildcard action '*'"),
    ({"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b/*"}, "wildcard action 's3:*'"),
    ({"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}, "ecr:BatchGetImage on resource '*'"),
    ({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "arn:aws:s3:::b"}, "NotAction/NotResource"),
    ({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}, "any principal"),
    ({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}, "any principal"),
])
def test_broad_statements_are_flagged(statement: dict[str, Any], words: str) -> None:
    found = policies.violations(policies.document(statement))
    assert found and words in found[0]


def test_narrow_statements_pass() -> None:
    doc = policies.document(
        *policies.ecr_pull(["arn:aws:ecr:eu-west-1:1:repository/a"]),
        policies.logs_write("arn:aws:logs:eu-west-1:1:log-group:g", "arn:aws:logs:eu-west-1:1:log-group:g:*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    )
    assert policies.violations(doc) == []
    assert policies.violations(policies.assume_role("ecs-tasks.amazonaws.com")) == []


def test_worker_policy_is_scoped_to_its_cluster() -> None:
    doc = policies.prefect_ecs_worker("arn:aws:ecs:eu-west-1:1:cluster/slipway-dev",
                                      ["arn:aws:iam::1:role/x"], "arn:aws:logs:eu-west-1:1:log-group:g")
    assert policies.violations(doc) == []
    sids = {st["Sid"]: st for st in doc["Statement"]}
    assert sids["WatchTasks"]["Resource"] == "arn:aws:ecs:eu-west-1:1:task/slipway-dev/*"

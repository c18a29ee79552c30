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


def test_dvc_remote_access_is_its_prefix_only() -> None:
    st = policies.s3_prefix_read_write("acme-dvc", "/team/store/", sid="Dvc")
    assert policies.violations(policies.document(*st)) == []
    listing, objects = st
    assert (listing["Sid"], listing["Resource"]) == ("DvcList", "arn:aws:s3:::acme-dvc")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["team/store", "team/store/*"]}}
    assert objects["Resource"] == "arn:aws:s3:::acme-dvc/team/store/*"
    assert not any(a.startswith("s3:Delete") or a.startswith("s3:PutBucket") for a in objects["Action"])
    whole = policies.s3_prefix_read_write("acme-dvc")
    assert "Condition" not in whole[0] and whole[1]["Resource"] == "arn:aws:s3:::acme-dvc/*"


def test_list_jobs_is_granted_on_star_only() -> None:
    """IAM lists no resource type for batch:ListJobs; SubmitJob has them and stays flagged on '*'."""
    doc = policies.document(policies.allow(["batch:DescribeJobs", "batch:ListJobs"], "*", sid="FindRuns"))
    assert policies.violations(doc) == []
    assert policies.violations(policies.document(policies.allow(["batch:SubmitJob"], "*", sid="S"))) == [
        "S: batch:SubmitJob on resource '*'"]

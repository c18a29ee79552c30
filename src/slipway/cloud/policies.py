"""IAM policy documents, written narrowly, and the least-privilege check the tests and users run.

Builders return plain dicts; ARNs may be Pulumi Outputs, so components serialise them with
``pulumi.Output.json_dumps``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Statement = dict[str, Any]
Document = dict[str, Any]

#: Actions AWS only grants on resource "*" (they have no resource-level permissions).
STAR_ONLY_ACTIONS = frozenset({
    "ecr:GetAuthorizationToken",
    "ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition",
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeSecurityGroups",
    "batch:DescribeJobs", "batch:DescribeJobQueues", "batch:DescribeJobDefinitions",
    # the runs webhook's idempotency look-up (slipway.cloud.webhook): IAM lists no resource type for it
    "batch:ListJobs",
})


def document(*statements: Statement) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Sequence[str], resources: Any, sid: str | None = None,
          condition: Mapping[str, Any] | None = None) -> Statement:
    st: Statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if sid:
        st["Sid"] = sid
    if condition:
        st["Condition"] = dict(condition)
    return st


def assume_role(service: str) -> Document:
    """Trust policy letting exactly one AWS service assume the role."""
    return document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}})


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def violations(doc: Document | str) -> list[str]:
    """Why a policy document is broader than least privilege (empty when it is fine).

    Flags: ``*`` or ``service:*`` actions; ``NotAction``/``NotResource``; an action on resource ``*``
    unless AWS offers no resource-level permission for it (``STAR_ONLY_ACTIONS``); a trust policy
    whose principal is ``*``.
    """
    if isinstance(doc, str):
        doc = json.loads(doc)
    assert isinstance(doc, dict)
    problems: list[str] = []
    for i, st in enumerate(_as_list(doc.get("Statement"))):
        if st.get("Effect") != "Allow":
            continue
        where = st.get("Sid") or f"statement {i}"
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: NotAction/NotResource grants everything else")
        actions = [str(a) for a in _as_list(st.get("Action"))]
        resources = [str(r) for r in _as_list(st.get("Resource"))]
        principal = st.get("Principal")
        if principal is not None:
            flat = json.dumps(principal)
            if principal == "*" or '"*"' in flat:
                problems.append(f"{where}: any principal may assume this role")
            continue
        for a in actions:
            if a == "*" or a.endswith(":*"):
                problems.append(f"{where}: wildcard action {a!r}")
        if "*" in resources:
            broad = [a for a in actions if a not in STAR_ONLY_ACTIONS]
            if broad:
                problems.append(f"{where}: {', '.join(broad)} on resource '*'")
    return problems


def ecr_pull(repository_arns: Iterable[Any]) -> list[Statement]:
    arns = list(repository_arns)
    statements = [allow(["ecr:GetAuthorizationToken"], "*", sid="EcrLogin")]
    if arns:
        statements.append(allow(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                                 "ecr:GetDownloadUrlForLayer"], arns, sid="EcrPull"))
    return statements


def logs_write(log_group_arn: Any, log_streams_arn: Any) -> Statement:
    """Write to one log group (its ARN and ``<arn>:*`` for its streams)."""
    return allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn, log_streams_arn], sid="Logs")


def s3_prefix_read_write(bucket: str, prefix: str = "", sid: str = "S3") -> list[Statement]:
    """Read and write the objects under ``s3://bucket/prefix/`` (the whole bucket when ``prefix`` is empty),
    and list only that part of the bucket. No delete, no bucket settings."""
    prefix = prefix.strip("/")
    objects = f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"
    listing = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}} if prefix else None
    return [allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}", sid=f"{sid}List", condition=listing),
            allow(["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], objects, sid=f"{sid}Objects")]


def secrets_read(secret_arns: Iterable[Any]) -> Statement:
    return allow(["secretsmanager:GetSecretValue"], list(secret_arns), sid="ReadSecrets")


def prefect_ecs_worker(cluster_arn: str, role_arns: list[str], log_group_arn: str) -> Document:
    """What a Prefect ECS worker needs to run flows in one cluster, and nothing else.

    Task and task-definition ARNs are derived from the cluster ARN (same region and account).
    """
    base, cluster_name = cluster_arn.rsplit(":cluster/", 1)
    return document(
        allow(["ecs:RunTask"], f"{base}:task-definition/*", sid="RunTasks",
              condition={"ArnEquals": {"ecs:cluster": cluster_arn}}),
        allow(["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"], f"{base}:task/{cluster_name}/*",
              sid="WatchTasks"),
        allow(["ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition",
               "ec2:DescribeSubnets", "ec2:DescribeVpcs"], "*", sid="TaskDefinitions"),
        allow(["iam:PassRole"], role_arns, sid="PassTaskRoles",
              condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
        allow(["logs:GetLogEvents"], f"{log_group_arn}:*", sid="ReadFlowLogs"),
    )

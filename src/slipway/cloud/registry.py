"""``ImageRegistry``: one ECR repository per project for its variant images (``<variant>-<hash>`` tags)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws.ecr as ecr


def lifecycle_policy(variants: Sequence[str], keep: int, untagged_days: int) -> dict[str, Any]:
    """Expire untagged images after ``untagged_days``; keep the newest ``keep`` images of each variant.

    Variant names contain no ``-`` (settings check it), so the prefix ``<variant>-`` of one variant
    never matches another's tags.
    """
    rules: list[dict[str, Any]] = [{
        "rulePriority": 1,
        "description": f"expire untagged images after {untagged_days} day(s)",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                      "countNumber": untagged_days},
        "action": {"type": "expire"},
    }]
    for i, variant in enumerate(variants, start=2):
        rules.append({
            "rulePriority": i,
            "description": f"keep the newest {keep} {variant} images",
            "selection": {"tagStatus": "tagged", "tagPrefixList": [f"{variant}-"],
                          "countType": "imageCountMoreThan", "countNumber": keep},
            "action": {"type": "expire"},
        })
    return {"rules": rules}


@dataclass
class ImageRegistryArgs:
    prefix: str
    projects: Sequence[str]
    variants: Sequence[str]
    keep_images: int = 10
    untagged_expiry_days: int = 1
    tags: Mapping[str, str] = field(default_factory=dict)


class ImageRegistry(pulumi.ComponentResource):
    """ECR repositories ``<prefix>/<project>``: scan on push, immutable tags, lifecycle policy.

    Tags are immutable except ``<variant>-latest``, the one moving pointer the Batch job
    definitions refer to (so a new image needs no new job definition revision).
    """

    repositories: dict[str, ecr.Repository]
    repository_urls: pulumi.Output[dict[str, str]]
    repository_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:ImageRegistry", name, None, opts)
        policy = json.dumps(lifecycle_policy(args.variants, args.keep_images, args.untagged_expiry_days))
        self.repositories = {}
        self.lifecycle_policies: dict[str, ecr.LifecyclePolicy] = {}
        for project in args.projects:
            repo = ecr.Repository(
                f"{name}-{project}",
                name=f"{args.prefix}/{project}",
                image_scanning_configuration=ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
                image_tag_mutability_exclusion_filters=[
                    ecr.RepositoryImageTagMutabilityExclusionFilterArgs(filter="*-latest", filter_type="WILDCARD"),
                ],
                encryption_configurations=[ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                tags={**args.tags, "slipway:project": project},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.lifecycle_policies[project] = ecr.LifecyclePolicy(f"{name}-{project}-lifecycle", repository=repo.name, policy=policy,
                                opts=pulumi.ResourceOptions(parent=self))
            self.repositories[project] = repo
        urls = {p: r.repository_url for p, r in self.repositories.items()}
        self.repository_urls = (pulumi.Output.all(**urls) if urls  # type: ignore[arg-type]
                                else pulumi.Output.from_input({}))
        self.repository_arns = [r.arn for r in self.repositories.values()]
        self.register_outputs({"repository_urls": self.repository_urls})

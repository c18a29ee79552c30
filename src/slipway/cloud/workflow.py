"""Moved to :mod:`slipway.flow` (the declaration) and :mod:`slipway.flow.deploy` (the CI step);
kept so ``from slipway.cloud.workflow import Workflow, AwsEcsMachine, AwsEcsImage`` still works."""

from slipway.flow.machines import FARGATE_SIZES, AwsEcsImage, AwsEcsMachine, LocalMachine
from slipway.flow.workflow import Workflow

__all__ = ["FARGATE_SIZES", "AwsEcsImage", "AwsEcsMachine", "LocalMachine", "Workflow"]

"""Workflows from commit to deployment: the seed's declaration, discovery, the CI deploy step and
the meta-flows (``slipway.flow.meta``).

``from slipway.flow import Workflow, AwsEcsMachine, AwsEcsImage, LocalMachine``
"""

from slipway.flow.machines import AwsEcsImage, AwsEcsMachine, LocalMachine
from slipway.flow.workflow import DAILY, Workflow

__all__ = ["DAILY", "AwsEcsImage", "AwsEcsMachine", "LocalMachine", "Workflow"]

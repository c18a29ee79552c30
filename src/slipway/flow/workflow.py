"""``Workflow``: one small declaration next to a Prefect ``@flow`` (the seed's API)::

    from prefect import flow
    from slipway.flow import AwsEcsImage, AwsEcsMachine, Workflow

    @flow
    def train() -> None: ...

    workflow = Workflow(
        machine=AwsEcsMachine(is_gpu=True, storage=50, cpu_value=2048, memory_value=4096,
                              image=AwsEcsImage.ml),
    )

``Workflow(...)`` may also wrap the flow (``@Workflow(machine=...)`` above ``@flow``), or name it
(``flow=train``). Declarations register themselves with their module; ``slipway flows deploy``
imports the configured paths and deploys every one it finds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import ValidationError
from slipway.flow.machines import AwsEcsMachine, LocalMachine, Machine

#: ``schedule=DAILY`` (the default): the project's daily smoke schedule on the main branch
DAILY = "daily"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TAG = re.compile(r"^[^\s,]{1,128}$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?LW#-]+$")

#: module name -> the workflows declared in it (in declaration order)
REGISTRY: dict[str, list[Workflow]] = {}


def check_cron(value: str, field: str = "workflow.schedule") -> str:
    parts = value.split()
    if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
        raise ValidationError(field, "must be a 5-field cron expression or None", got=value,
                              allowed="e.g. '0 6 * * *' (minute hour day month weekday)")
    return value


@dataclass(eq=False)
class Workflow:
    machine: Machine = field(default_factory=LocalMachine)
    schedule: str | None = DAILY
    tags: Sequence[str] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    flow: Any = None
    #: also schedule the development deployments of other branches
    branch_schedule: bool = False
    description: str | None = None
    module: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.machine, (AwsEcsMachine, LocalMachine)):
            raise ValidationError("workflow.machine", "must be AwsEcsMachine(...) or LocalMachine()",
                                  got=type(self.machine).__name__)
        if self.name is not None and not _NAME.match(str(self.name)):
            raise ValidationError("workflow.name", "letters, digits, '.', '_' and '-', at most 100", got=self.name)
        if self.schedule not in (None, DAILY):
            check_cron(str(self.schedule))
        if isinstance(self.tags, str):
            raise ValidationError("workflow.tags", "must be a list of tags, not one string", got=self.tags)
        for tag in self.tags:
            if not isinstance(tag, str) or not _TAG.match(tag):
                raise ValidationError("workflow.tags", "each tag is 1-128 characters without spaces or commas",
                                      got=tag)
        if not isinstance(self.parameters, Mapping):
            raise ValidationError("workflow.parameters", "must be a mapping of parameter names to values",
                                  got=self.parameters)
        if not self.module:
            # the module that declares the workflow: __post_init__ <- __init__ <- the declaring frame
            self.module = str(sys._getframe(2).f_globals.get("__name__", ""))
        REGISTRY.setdefault(self.module, []).append(self)

    def __call__(self, flow: Any) -> Any:
        """``@Workflow(machine=...)`` above a ``@flow``: binds the flow, returns it unchanged."""
        if self.flow is not None:
            raise ValidationError("workflow.flow", "is already bound", got=getattr(self.flow, "name", self.flow))
        self.flow = flow
        return flow

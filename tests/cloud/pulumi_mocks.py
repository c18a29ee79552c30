"""Pulumi's own unit-test engine (``pulumi.runtime.set_mocks``) with a monitor that remembers
what reached the engine: every resource's type, name, parent chain (URN), inputs, and which inputs
arrived as secrets. The AWS provider binary cannot be downloaded here; AWS itself is the boundary.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
GPU_AMI = "ami-0fedcba9876543210"
ACCOUNT = "123456789012"


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Paths of values the SDK sent to the engine wrapped as secrets."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return [path or "."]
        return [p for k, v in value.items() for p in secret_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{path}[{i}]")]
    return []


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    raw: dict[str, Any]
    custom: bool

    @property
    def parent_types(self) -> list[str]:
        return self.urn.split("::")[2].split("$")[:-1]

    @property
    def secret_inputs(self) -> list[str]:
        return secret_paths(self.raw)


class Mocks(pulumi.runtime.Mocks):
    """Outputs = inputs plus what AWS would compute (ids, ARNs, repository URLs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        kind = args.typ.split(":")[-1].lower()
        phys = state.get("name") or args.name
        state.setdefault("name", phys)
        state.setdefault("arn", f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:eu-west-1:{ACCOUNT}:{kind}/{phys}")
        if args.typ == "aws:ecr/repository:Repository":
            state["repository_url"] = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{phys}"
        if args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{phys}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:ssm/getParameter:getParameter":
            return {"name": args.args["name"], "value": GPU_AMI, "type": "String", "arn": "x", "id": "x",
                    "version": 1, "insecure_value": GPU_AMI, "with_decryption": True}, []
        raise AssertionError(f"unexpected invoke {args.token}")


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        raw = json_format.MessageToDict(request.object)
        inputs = json.loads(json.dumps(pulumi.runtime.rpc.deserialize_properties(request.object), default=str))
        self.registered.append(Registered(response.urn, request.type, request.name, inputs, raw,
                                          bool(request.custom)))
        return response


@dataclass
class Engine:
    mocks: Mocks
    monitor: RecordingMonitor
    config: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]

    def one(self, typ: str, name: str) -> Registered:
        found = [r for r in self.registered if r.type == typ and r.name == name]
        assert len(found) == 1, f"{typ} {name}: {[r.name for r in self.of_type(typ)]}"
        return found[0]

    @property
    def registered(self) -> list[Registered]:
        return self.monitor.registered


def start_engine(stack: str = "dev", config: dict[str, Any] | None = None,
                 secret_keys: list[str] | None = None) -> Engine:
    # Pulumi's test runtime uses the thread's event loop; asyncio.run() elsewhere in the session
    # (Prefect's client, other suites) leaves none behind.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="slipway", stack=stack, preview=False, monitor=monitor)
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}
    pulumi.runtime.set_all_config(values, secret_keys or [])
    return Engine(mocks, monitor, dict(config or {}))

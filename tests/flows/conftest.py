"""Fixtures of the flow tests: a real Prefect server with Slipway's three pools, and sample projects."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.prefect import PrefectServer

# the client side of the tests stays out of the real HOME and talks to nobody unless pointed at the server
_CLIENT_HOME = tempfile.mkdtemp(prefix="slipway-flows-client-")
atexit.register(shutil.rmtree, _CLIENT_HOME, True)
os.environ["PREFECT_HOME"] = _CLIENT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # discard port: never an ephemeral server

INFRA_ROLE = "arn:aws:iam::123456789012:role/slipway-test-ecs-infrastructure"
REPO_URL = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/test/demo"


@pytest.fixture(scope="session")
def ecs_base() -> dict[str, Any]:
    from slipway.cloud.templates import prefect_aws_ecs_template

    return prefect_aws_ecs_template()


@pytest.fixture(scope="session")
def pool_templates(ecs_base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from slipway.cloud import templates
    from slipway.flow.ecs_template import with_task_volume
    from tests.cloud.test_prefect import DEFAULTS

    return {"gpu": with_task_volume(templates.ecs_gpu_template(ecs_base, DEFAULTS)),
            "cpu": with_task_volume(templates.ecs_cpu_template(ecs_base, DEFAULTS)),
            "local": templates.process_template()}


@pytest.fixture(scope="session")
def pools(prefect_server: PrefectServer, pool_templates: dict[str, dict[str, Any]]) -> Iterator[dict[str, str]]:
    """Slipway's gpu/cpu/local pools on the test server, made by the same provider Pulumi runs."""
    from slipway.cloud.prefect_api import PrefectApi
    from slipway.cloud.prefect_provider import WorkPoolProvider

    api = PrefectApi(prefect_server.api_url)
    suffix = uuid.uuid4().hex[:6]
    made = {}
    for kind, template in pool_templates.items():
        name = f"slipway-fl{suffix}-{kind}"
        WorkPoolProvider().create({"api_url": api.api_url, "name": name, "type": "process" if kind == "local" else "ecs",
                                   "description": None, "base_job_template": template, "concurrency_limit": None,
                                   "is_paused": False})
        made[kind] = name
    yield made
    for name in made.values():
        api.delete_work_pool(name)


@pytest.fixture(scope="session")
def outputs(pools: dict[str, str]) -> dict[str, Any]:
    return {"ecrRepositoryUrls": {"demo": REPO_URL}, "prefectWorkPools": pools,
            "ecsInfrastructureRoleArn": INFRA_ROLE}


@pytest.fixture(scope="session")
def moto_server(server_root: Path) -> Iterator[Any]:
    from tests.harness.moto import start_moto

    m = start_moto(server_root / "moto-flows")
    yield m
    m.stop()

"""Fixtures of the cloud tests: Pulumi's mock engine and a real Prefect server."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from typing import Any

import pytest

# Importing prefect creates $PREFECT_HOME (~/.prefect): keep the client side of the tests out of the
# real HOME, and let it talk to nobody unless a test points it at the test server.
_CLIENT_HOME = tempfile.mkdtemp(prefix="slipway-prefect-client-")
atexit.register(shutil.rmtree, _CLIENT_HOME, True)
os.environ["PREFECT_HOME"] = _CLIENT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # discard port: never an ephemeral server


@pytest.fixture(scope="session")
def _ecs_base_template() -> dict[str, Any]:
    from slipway.cloud.templates import prefect_aws_ecs_template

    return prefect_aws_ecs_template()


@pytest.fixture
def ecs_base_template(_ecs_base_template: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(_ecs_base_template)


@pytest.fixture(scope="session")
def process_base_template() -> dict[str, Any]:
    from slipway.cloud.templates import process_template

    return process_template()

"""Servers for the CI-step tests: a real OCI registry and moto server (ECR)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.moto import Moto, start_moto
from tests.harness.registry import Registry, start_registry


@pytest.fixture(scope="session")
def registry(server_root: Path) -> Iterator[Registry]:
    reg = start_registry(server_root / "registry")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def moto(server_root: Path) -> Iterator[Moto]:
    m = start_moto(server_root / "moto")
    yield m
    m.stop()

"""Session fixtures: the real servers the suite runs against (started on demand, stopped at the end).

Tests must not send traffic anywhere but 127.0.0.0/8 or the suite's own network namespaces.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dockerd import Dockerd, ensure_vessel_image, start_dockerd
from tests.harness.postgres import Postgres, fresh_database, start_postgres
from tests.harness.prefect import PrefectServer, start_prefect

REPO = Path(__file__).resolve().parents[1]

# The network rule: no test may make a container engine reach for a registry outside this machine (a pull
# of a missing image would ask Docker Hub). Every face's settings loader reads this; fixtures that build
# Settings themselves pass pull=False.
os.environ["SLIPWAY_PULL"] = "false"


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    """A world-traversable scratch dir (PostgreSQL runs as its own user)."""
    root = Path(tempfile.mkdtemp(prefix="slipway-test-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd(server_root: Path) -> Iterator[Dockerd]:
    d = start_dockerd(server_root)
    yield d
    d.stop()


@pytest.fixture(scope="session")
def vessel_image(dockerd: Dockerd) -> str:
    return ensure_vessel_image(dockerd)


@pytest.fixture(scope="session")
def prefect_server(server_root: Path) -> Iterator[PrefectServer]:
    """One real Prefect server for the session (the cloud and the flows tests share it)."""
    server = start_prefect(server_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(server_root: Path) -> Iterator[Postgres]:
    pg = start_postgres(server_root / "pg")
    yield pg
    pg.stop()


_db_counter = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger database on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return fresh_database(pg, f"ledger_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME for the test: SSH config, keys and Slipway's data dir live here."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    (h / ".ssh").chmod(0o700)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("SLIPWAY_LEDGER_URL", raising=False)
    monkeypatch.delenv("SLIPWAY_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return h

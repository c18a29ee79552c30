"""A private Prefect server (prefect 3.8.8 from the project's venv, SQLite) on a loopback port.

Analytics, the UI and the background services (scheduler, late runs...) are off: the tests need
the API only, it sends nothing anywhere, and SQLite sees no competing writers. Healthy in 12-26 s on the project's
machines. One per test session; stopped at the end. The freshly migrated, still empty database is
kept in the test cache (per prefect version), so later sessions skip the migrations (~35% faster).
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.harness.procs import CACHE, Proc, free_port, wait_for


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    proc: Proc

    def stop(self) -> None:
        self.proc.stop(timeout=20)


def prefect_binary() -> str:
    exe = Path(sys.executable).parent / "prefect"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the cloud extra (uv sync --frozen --extra cloud)", pytrace=False)
    return str(exe)


def start_prefect(workdir: Path) -> PrefectServer:
    home = workdir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    db = home / "prefect.db"
    cached = CACHE / f"prefect-{importlib.metadata.version('prefect')}-empty.db"
    if cached.exists() and not db.exists():
        _copy_db(cached, db)
    port = free_port()
    log = workdir / "prefect.log"
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db}",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    proc = Proc([prefect_binary(), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                  "--no-services"], log, env=env)
    url = f"http://127.0.0.1:{port}/api"
    wait_for(lambda: requests.get(f"{url}/health", timeout=2).json() is True, 120, "prefect server",
             proc.proc, log)
    if not cached.exists():  # migrated and empty: nothing has been written through the API yet
        cached.parent.mkdir(parents=True, exist_ok=True)
        _copy_db(db, cached.with_suffix(".tmp"))
        cached.with_suffix(".tmp").rename(cached)
    return PrefectServer(url, home, proc)


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database, even while the server has it open (WAL mode)."""
    with sqlite3.connect(src) as s, sqlite3.connect(dst) as d:
        s.backup(d)

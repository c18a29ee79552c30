"""A private Prefect server (prefect 3.8.8 from the project's venv, SQLite) on a loopback port.

Analytics, the UI and the background services (scheduler, late runs...) are off: the tests need
the API only, it sends nothing anywhere, and SQLite sees no competing writers. Healthy in 12-26 s on the project's
machines. One per test session; stopped at the end.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.harness.procs import Proc, free_port, wait_for


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
    port = free_port()
    log = workdir / "prefect.log"
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    proc = Proc([prefect_binary(), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                  "--no-services"], log, env=env)
    url = f"http://127.0.0.1:{port}/api"
    wait_for(lambda: requests.get(f"{url}/health", timeout=2).json() is True, 120, "prefect server",
             proc.proc, log)
    return PrefectServer(url, home, proc)

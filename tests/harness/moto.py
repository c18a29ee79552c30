"""moto server (PyPI moto[server]) on 127.0.0.1:<free port>: the AWS APIs tests may not reach."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.harness.procs import Proc, free_port, wait_for

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_SESSION_TOKEN": "testing"}


@dataclass
class Moto:
    url: str
    proc: Proc

    def stop(self) -> None:
        self.proc.stop()

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10)


def start_moto(workdir: Path) -> Moto:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "moto.log"
    proc = Proc([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log,
                env=CREDENTIALS)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/moto-api/", timeout=1).status_code == 200, 60, "moto server",
                 proc.proc, log)
    except BaseException:
        proc.stop()
        raise
    return Moto(url, proc)

"""A private OCI registry (Debian docker-registry, distribution v2) on 127.0.0.1:<free port>."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from tests.harness.procs import Proc, free_port, require, wait_for

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class Registry:
    url: str
    host: str
    root: Path
    proc: Proc

    def stop(self) -> None:
        self.proc.stop()


def start_registry(workdir: Path) -> Registry:
    exe = require("docker-registry", "docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    root = workdir / "data"
    root.mkdir(exist_ok=True)
    cfg = workdir / "config.yml"
    cfg.write_text(CONFIG.format(root=root, port=port))
    log = workdir / "registry.log"
    proc = Proc([exe, "serve", str(cfg)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/v2/", timeout=1).status_code == 200, 30, "docker-registry",
                 proc.proc, log)
    except BaseException:
        proc.stop()
        raise
    return Registry(url, f"127.0.0.1:{port}", root, proc)

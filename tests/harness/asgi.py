"""Serve an ASGI app with the real uvicorn on 127.0.0.1 in a thread (what ``slipway server`` runs)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from tests.harness.procs import free_port


class Served:
    def __init__(self, app: Any, log_level: str = "info") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level=log_level,
                                                    lifespan="on", log_config=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

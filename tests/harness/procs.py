"""Process helpers shared by the server fixtures."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SLIPWAY_TEST_CACHE", Path.home() / ".cache" / "slipway-tests"))


def require(binary: str, package: str) -> str:
    """Path of ``binary``; fails the run (never skips) when it is missing."""
    for cand in (binary, f"/usr/sbin/{binary}", f"/usr/bin/{binary}", f"/usr/lib/postgresql/15/bin/{binary}"):
        path = shutil.which(cand) if "/" not in cand else (cand if os.access(cand, os.X_OK) else None)
        if path:
            return path
    pytest.fail(f"{binary} is missing: the test set-up installs Debian package {package!r} "
                f"(scripts/bootstrap.sh); run it, or install {package} by hand", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
             log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    state = f"exited with {proc.returncode}" if proc is not None and proc.poll() is not None else "timed out"
    pytest.fail(f"{what} did not start ({state}). Log tail:\n{tail}", pytrace=False)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


class Proc:
    """A background server process with its log file."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.log = log
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(list(argv), stdout=self._fh, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._fh.close()

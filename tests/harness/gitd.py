"""``git daemon`` on 127.0.0.1:<free port> serving bare repositories (clone and push, no auth)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import Proc, free_port, port_open, require, wait_for


@dataclass
class GitDaemon:
    base: Path
    port: int
    proc: Proc

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def bare(self, name: str) -> Path:
        """A new empty bare repository ``<name>.git`` that accepts pushes (replacing one of that name)."""
        path = self.base / f"{name}.git"
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        return path

    def stop(self) -> None:
        self.proc.stop()


def start_git_daemon(workdir: Path) -> GitDaemon:
    git = require("git", "git")
    base = workdir / "repos"
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "git-daemon.log"
    proc = Proc([git, "daemon", f"--base-path={base}", "--export-all", "--enable=receive-pack", "--reuseaddr",
                 "--listen=127.0.0.1", f"--port={port}", "--informative-errors", str(base)], log)
    try:
        wait_for(lambda: port_open(port), 20, "git daemon", proc.proc, log)
    except BaseException:
        proc.stop()
        raise
    return GitDaemon(base, port, proc)

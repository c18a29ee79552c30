"""A throwaway PostgreSQL cluster (Debian postgresql) on a loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import Proc, free_port, port_open, require, wait_for


@dataclass
class Postgres:
    url: str
    port: int
    proc: Proc

    def stop(self) -> None:
        self.proc.stop()


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start_postgres(workdir: Path) -> Postgres:
    initdb = require("initdb", "postgresql")
    postgres = require("postgres", "postgresql")
    data = workdir / "pgdata"
    sockdir = workdir / "pgsock"
    sockdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in (workdir, sockdir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    if data.exists():
        shutil.rmtree(data)
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "slipway", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    port = free_port()
    log = workdir / "postgres.log"
    log.touch()
    if os.geteuid() == 0:
        os.chown(log, pwd.getpwnam("postgres").pw_uid, -1)
    proc = Proc(_as_postgres([postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                              "-k", str(sockdir), "-c", "max_connections=300", "-c", "fsync=off",
                              "-c", "synchronous_commit=off"]), log)
    wait_for(lambda: port_open(port), 30, "postgres", proc.proc, log)
    subprocess.run(_as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "slipway", "slipway"]),
                   check=True, capture_output=True)
    return Postgres(f"postgresql://slipway@127.0.0.1:{port}/slipway", port, proc)


def fresh_database(pg: Postgres, name: str) -> str:
    """A new empty database on the cluster; returns its URL."""
    subprocess.run(_as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "slipway", name]),
                   check=True, capture_output=True)
    return f"postgresql://slipway@127.0.0.1:{pg.port}/{name}"

"""A private Prometheus (Debian ``prometheus``) on a loopback port, preloaded with GPU histories.

Histories are written as OpenMetrics (timestamps in seconds, ``# EOF`` at the end) and turned into
TSDB blocks with ``promtool tsdb create-blocks-from openmetrics`` before Prometheus starts on that
directory, so hours or days of dcgm-exporter samples exist at once. The default 15-day retention counts
back from the newest block, so a history may sit at any fixed date; tests inject a "now" near its end.
Nothing is scraped (no scrape configs): the test controls every sample.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from tests.harness.procs import CACHE, Proc, free_port, require, wait_for

METRIC = "DCGM_FI_DEV_GPU_UTIL"

# value(t) for one GPU at epoch second t, or None for "no sample" (exporter down)
Curve = Callable[[int], float | None]


@dataclass(frozen=True)
class Gpu:
    uuid: str
    host: str
    curve: Curve
    index: int = 0


@dataclass
class Prometheus:
    url: str
    port: int
    data: Path
    proc: Proc

    def stop(self) -> None:
        self.proc.stop()


def write_openmetrics(path: Path, gpus: Iterable[Gpu], start: datetime, end: datetime, every_s: int = 60,
                      offset_s: int = 30) -> int:
    """dcgm-exporter's series (labels gpu, UUID, Hostname, modelName) sampled every ``every_s`` seconds,
    ``offset_s`` after each step so no sample sits on an hour boundary. Returns the sample count."""
    t0, t1 = int(start.timestamp()) + offset_s, int(end.timestamp())
    n = 0
    with path.open("w") as fh:
        fh.write(f"# HELP {METRIC} GPU utilization (in %).\n# TYPE {METRIC} gauge\n")
        for g in gpus:
            labels = (f'{{gpu="{g.index}",UUID="{g.uuid}",Hostname="{g.host}",'
                      f'modelName="NVIDIA A100-SXM4-80GB"}}')
            lines = []
            for t in range(t0, t1, every_s):
                v = g.curve(t)
                if v is not None:
                    lines.append(f"{METRIC}{labels} {v:g} {t}\n")
            fh.writelines(lines)
            n += len(lines)
        fh.write("# EOF\n")
    return n


def build_tsdb(openmetrics: Path, data: Path) -> None:
    promtool = require("promtool", "prometheus")
    data.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"promtool could not load {openmetrics}: {r.stderr[-2000:]}")


def cached_tsdb(key: str, build: Callable[[Path], None]) -> Path:
    """A TSDB directory cached under the test cache by ``key`` (built once per machine)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    final = CACHE / "prometheus" / digest
    if (final / ".complete").exists():
        return final
    tmp = final.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    (tmp / ".complete").touch()
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def start_prometheus(workdir: Path, tsdb: Path | None = None) -> Prometheus:
    """Prometheus on a copy of ``tsdb`` (blocks are read-only inputs; Prometheus writes beside them)."""
    binary = require("prometheus", "prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    if tsdb is not None:
        shutil.copytree(tsdb, data, ignore=shutil.ignore_patterns(".complete"))
    else:
        data.mkdir()
    cfg = workdir / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = workdir / "prometheus.log"
    proc = Proc([binary, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=15d"], log)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200

    wait_for(ready, 60, "prometheus", proc.proc, log)
    return Prometheus(url, port, data, proc)

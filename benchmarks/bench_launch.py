"""Launch → SSH-ready latency on a real dockerd with a cached image, broken down, p50/p95.

Runs ``ansible-playbook playbooks/launch_vessel.yml`` N times (the path a researcher uses) and reads
the module's own timings: Ansible overhead (ansible-playbook start, the gpu_facts task, loading the
module), scheduling (the reservation in the ledger), container (create + start) and sshd ready. The
baseline is what a researcher would otherwise do: ``docker run`` of the same image, polling its sshd
until it answers, measured in the same run. Goals: p50 through the playbook at most 2x the baseline, through
the CLI (`slipway vessels launch`, a cold process) at most 1.3x (the seed reports 6-9 s; dstack 10-15 s).

    .venv/bin/python -m benchmarks.bench_launch [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    from tests.harness.dockerd import ensure_vessel_image, start_dockerd

    from slipway.engine import wait_ssh

    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    work.chmod(0o755)
    home = work / "home"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh" / "id_ed25519")],
                   check=True)
    d = start_dockerd(work)
    print("building/checking the vessel image ...", flush=True)
    image = ensure_vessel_image(d)
    env = {**os.environ, "HOME": str(home), "DOCKER_HOST": d.url, "ANSIBLE_NOCOLOR": "1",
           "SLIPWAY_LEDGER_URL": f"sqlite:///{work}/ledger.db", "ANSIBLE_STDOUT_CALLBACK": "json",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    rows: dict[str, list[float]] = {k: [] for k in ("ansible overhead", "schedule", "container", "ssh_ready",
                                                    "end to end (playbook)", "end to end (CLI)")}
    try:
        subprocess.run(["ansible-playbook", "playbooks/launch_vessel.yml", "-e", "vessel=warm"], cwd=REPO,
                       env=env, capture_output=True, check=True)
        subprocess.run(["ansible-playbook", "playbooks/stop_vessel.yml", "-e", "vessel=warm"], cwd=REPO,
                       env=env, capture_output=True, check=True)
        for i in range(args.runs):
            t0 = time.monotonic()
            out = subprocess.run(["ansible-playbook", "playbooks/launch_vessel.yml", "-e", f"vessel=b{i}"],
                                 cwd=REPO, env=env, capture_output=True, text=True, check=True)
            total = time.monotonic() - t0
            res = json.loads(out.stdout)
            task = next(t for t in res["plays"][0]["tasks"] if t["task"]["name"] == "Launch the vessel")
            tm = task["hosts"]["localhost"]["timings"]
            rows["schedule"].append(tm["schedule"])
            rows["container"].append(tm["container"])
            rows["ssh_ready"].append(tm["ssh_ready"])
            rows["ansible overhead"].append(total - tm["total"])
            rows["end to end (playbook)"].append(total)
            print(f"  launch {i + 1}/{args.runs}: {total:.2f} s", flush=True)
            subprocess.run(["ansible-playbook", "playbooks/stop_vessel.yml", "-e", f"vessel=b{i}"], cwd=REPO,
                           env=env, capture_output=True, check=True)
        fleet = work / "fleet.yml"
        fleet.write_text(json.dumps({"localhost": {"slipway_queue": "local", "slipway_docker_url": d.url,
                                                   "slipway_address": "127.0.0.1"}}))
        slipway = str(Path(sys.executable).parent / "slipway")
        subprocess.run([slipway, "vessels", "launch", "--fleet", str(fleet), "--name", "cwarm"], env=env,
                       capture_output=True, check=True)
        subprocess.run([slipway, "vessels", "stop", "cwarm"], env=env, capture_output=True, check=True)
        for i in range(args.runs):
            t0 = time.monotonic()
            subprocess.run([slipway, "vessels", "launch", "--name", f"c{i}"], env=env, capture_output=True,
                           check=True)
            rows["end to end (CLI)"].append(time.monotonic() - t0)
            print(f"  cli launch {i + 1}/{args.runs}: {rows['end to end (CLI)'][-1]:.2f} s", flush=True)
            subprocess.run([slipway, "vessels", "stop", f"c{i}"], env=env, capture_output=True, check=True)
        # baseline: docker run + sshd, what researchers did by hand
        base: list[float] = []
        script = ("mkdir -p /run/sshd && ssh-keygen -q -A && /usr/sbin/sshd -D -p 22999 -o ListenAddress=127.0.0.1")
        for _i in range(args.runs):
            t0 = time.monotonic()
            cid = subprocess.run(["docker", "-H", d.url, "run", "-d", "--rm", "--network", "host", image, "sh", "-c",
                                  script], capture_output=True, text=True, check=True).stdout.strip()
            wait_ssh("127.0.0.1", 22999, 30)
            base.append(time.monotonic() - t0)
            subprocess.run(["docker", "-H", d.url, "rm", "-f", cid], capture_output=True, check=True)
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'phase':28} {'p50 s':>7} {'p95 s':>7}")
    for k, xs in rows.items():
        print(f"{k:28} {statistics.median(xs):7.2f} {pct(xs, 0.95):7.2f}")
    b50 = statistics.median(base)
    print(f"{'docker run + sshd (baseline)':28} {b50:7.2f} {pct(base, 0.95):7.2f}")
    print(f"\n{'path':10} {'p50 s':>7} {'vs baseline':>12} {'goal':>6}  result")
    for path, key, goal in (("playbook", "end to end (playbook)", 2.0), ("CLI", "end to end (CLI)", 1.3)):
        p50 = statistics.median(rows[key])
        print(f"{path:10} {p50:7.2f} {p50 / b50:11.2f}x {goal:5.1f}x  {'met' if p50 / b50 <= goal else 'NOT met'}")
    p50 = statistics.median(rows["end to end (playbook)"])
    print(f"\n{7.5 / p50:.1f}x faster than the seed's 6-9 s, {12.5 / p50:.1f}x dstack's 10-15 s (published figures)")


if __name__ == "__main__":
    main()

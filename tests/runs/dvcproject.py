"""A tiny DVC project in a bare repository on the test git daemon, and readers for what a run pushes back.

Written by hand (the project venv has no DVC): ``.dvc/config`` with an S3 remote on moto, one stage
whose output depends on ``params.yaml`` so ``dvc exp run --set-param`` changes it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness.gitd import GitDaemon

TRAIN = """\
import json
import pathlib

import yaml

params = yaml.safe_load(open("params.yaml"))
data = [int(x) for x in open("data.txt").read().split()]
score = sum(data) * params["lr"]
pathlib.Path("model.txt").write_text(f"lr={params['lr']} sum={sum(data)}\\n")
pathlib.Path("metrics.json").write_text(json.dumps({"score": score}))
"""

DVC_YAML = {"stages": {"train": {"cmd": "python train.py", "deps": ["train.py", "data.txt"],
                                 "params": ["lr"], "outs": ["model.txt"],
                                 "metrics": [{"metrics.json": {"cache": False}}]}}}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@dataclass
class Project:
    name: str
    work: Path
    bare: Path
    url: str
    bucket: str
    prefix: str

    def commit(self, message: str, change: str | None = None) -> str:
        if change is not None:
            (self.work / "data.txt").write_text(change)
            git(self.work, "add", "data.txt")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:refs/heads/main")
        return git(self.work, "rev-parse", "HEAD").strip()

    def git_log_message(self, sha: str) -> str:
        return git(self.work, "log", "-1", "--format=%B", sha)

    def show(self, ref: str, path: str) -> str:
        return git(self.bare, "show", f"{ref}:{path}")

    def refs(self) -> list[str]:
        return git(self.bare, "for-each-ref", "--format=%(refname)").split()

    def output_md5(self, ref: str, out: str = "model.txt") -> str:
        lock = yaml.safe_load(self.show(ref, "dvc.lock"))
        md5: str = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == out)
        return md5

    def pushed_output(self, s3: Any, ref: str, out: str = "model.txt") -> str:
        """The content of a stage output as the run pushed it to the DVC remote (via dvc.lock's md5)."""
        md5 = self.output_md5(ref, out)
        key = f"{self.prefix}/files/md5/{md5[:2]}/{md5[2:]}"
        body: bytes = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body.decode()


def make_project(gitd: GitDaemon, work: Path, name: str, s3_url: str | None, bucket: str) -> Project:
    """``s3_url``: the remote is ``s3://<bucket>/store-<name>`` on that endpoint; ``None``: the remote is
    the directory ``<bucket>/store-<name>`` (as the job's container sees it)."""
    bare = gitd.bare(name)
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "Ada")
    git(work, "config", "user.email", "ada@example.com")
    (work / ".dvc").mkdir()
    (work / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    prefix = f"store-{name}"
    remote = (f"    url = s3://{bucket}/{prefix}\n    endpointurl = {s3_url}\n" if s3_url
              else f"    url = {bucket}/{prefix}\n")
    (work / ".dvc" / "config").write_text(
        "[core]\n    remote = storage\n    autostage = true\n['remote \"storage\"']\n" + remote)
    (work / ".dvcignore").write_text("")
    (work / "params.yaml").write_text("lr: 0.01\n")
    (work / "data.txt").write_text("1 2 3\n")
    (work / "train.py").write_text(TRAIN)
    (work / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (work / ".gitignore").write_text("/model.txt\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "tiny DVC project")
    git(work, "remote", "add", "origin", gitd.url(name))
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    return Project(name, work, bare, gitd.url(name), bucket, prefix)


def result_of(logs: str) -> dict[str, Any]:
    """The runner's machine-readable result line from a job's log."""
    for line in reversed(logs.splitlines()):
        if "slipway-run-result: " in line:
            data: dict[str, Any] = json.loads(line.split("slipway-run-result: ", 1)[1])
            return data
    raise AssertionError("no slipway-run-result line in the job's log:\n" + logs[-3000:])

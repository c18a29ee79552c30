"""A sample repository made by the tests: the demo uv project (variants base, ml, dev), three flow
files (the seed's GPU declaration, a CPU ECS flow, a LocalMachine flow), a bare remote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.images.demo import make_demo

SEED = '''from prefect import flow

from slipway.flow import AwsEcsImage, AwsEcsMachine, Workflow


@flow(name="train")
def train(epochs: int = 1) -> int:
    return epochs


workflow = Workflow(
machine=AwsEcsMachine(
is_gpu=True,
storage=50,
cpu_value=2048,
memory_value=4096,
image=AwsEcsImage.ml,
),
)
'''

ETL = '''from prefect import flow

from slipway.flow import AwsEcsImage, AwsEcsMachine, Workflow


@Workflow(machine=AwsEcsMachine(storage=30, cpu_value=1024, memory_value=4096, image=AwsEcsImage.base),
          schedule="30 2 * * *", tags=["etl"])
@flow(name="featurize")
def featurize() -> str:
    return "features"
'''

HELLO = '''from prefect import flow

from slipway.flow import LocalMachine, Workflow


@flow(name="hello")
def hello(name: str = "world") -> str:
    print(f"hello {name} from the sample repository")
    return name


Workflow(machine=LocalMachine(), parameters={"name": "slipway"}, schedule=None)
'''

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(root: Path) -> Path:
    """``root/app`` (a git work tree on main, pushed to ``root/remote.git`` as origin)."""
    repo = make_demo(root / "app")
    flows = repo / "flows"
    flows.mkdir()
    (flows / "train.py").write_text(SEED)
    (flows / "etl.py").write_text(ETL)
    (flows / "hello.py").write_text(HELLO)
    (repo / ".gitignore").write_text("__pycache__/\n")
    subprocess.run(["git", "init", "-q", "--bare", str(root / "remote.git")], check=True, env={**os.environ, **GIT_ENV})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", str(root / "remote.git"))
    commit_all(repo, "sample flows")
    git(repo, "push", "-q", "origin", "main")
    return repo

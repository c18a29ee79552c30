"""Where a deploy runs from: repository, branch and commit, read from the CI's own variables
(GitHub Actions, GitLab CI, Bitbucket Pipelines) or, outside CI, from git itself."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from slipway.errors import ValidationError


@dataclass(frozen=True)
class GitContext:
    repo: str
    branch: str
    commit: str
    ci: str  # github, gitlab, bitbucket or git

    @property
    def short(self) -> str:
        return self.commit[:12]


def slug(branch: str, limit: int = 63) -> str:
    """A deployment-name-safe form of a branch name: ``feature/X_y`` -> ``feature-x-y``."""
    s = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")[:limit].strip("-")
    if not s:
        raise ValidationError("branch", "has no letters or digits to name a deployment after", got=branch)
    return s


def _repo_name(url: str) -> str:
    """``git@github.com:team/app.git``, ``https://host/team/app`` -> ``team/app``."""
    path = re.sub(r"^[a-z+]+://[^/]+/", "", url.strip())
    path = re.sub(r"^[^@/]+@[^:]+:", "", path)
    path = path.removesuffix(".git").rstrip("/")
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:]) if parts else ""


def _git(directory: Path) -> Callable[..., str]:
    def run(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    return run


def repo_of(directory: Path, env: Mapping[str, str], git: Callable[..., str] | None = None) -> str:
    """The repository's name (``team/app``): the CI's variable, else origin's URL, else the folder."""
    run = git or _git(directory)
    for key in ("GITHUB_REPOSITORY", "CI_PROJECT_PATH", "BITBUCKET_REPO_FULL_NAME"):
        if env.get(key):
            return env[key]
    return _repo_name(run("config", "--get", "remote.origin.url")) or Path(directory).resolve().name


def detect(directory: Path, env: Mapping[str, str], *, branch: str = "", commit: str = "",
           repo: str = "", git: Callable[..., str] | None = None) -> GitContext:
    """Explicit values win, then the CI's variables, then git."""
    run = git or _git(directory)
    ci = "git"
    ci_repo = ci_branch = ci_commit = ""
    if env.get("GITHUB_ACTIONS") == "true":
        ci = "github"
        ci_repo = env.get("GITHUB_REPOSITORY", "")
        # pull requests: GITHUB_REF_NAME is "<n>/merge"; the branch is GITHUB_HEAD_REF
        ci_branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", "")
        ci_commit = env.get("GITHUB_SHA", "")
    elif env.get("GITLAB_CI") == "true":
        ci = "gitlab"
        ci_repo = env.get("CI_PROJECT_PATH", "")
        ci_branch = (env.get("CI_COMMIT_BRANCH") or env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
                     or env.get("CI_COMMIT_REF_NAME", ""))
        ci_commit = env.get("CI_COMMIT_SHA", "")
    elif env.get("BITBUCKET_BUILD_NUMBER") or env.get("BITBUCKET_COMMIT"):
        ci = "bitbucket"
        ci_repo = env.get("BITBUCKET_REPO_FULL_NAME", "")
        ci_branch = env.get("BITBUCKET_BRANCH", "")
        ci_commit = env.get("BITBUCKET_COMMIT", "")
    branch = branch or ci_branch or run("rev-parse", "--abbrev-ref", "HEAD")
    commit = commit or ci_commit or run("rev-parse", "HEAD")
    repo = repo or ci_repo or _repo_name(run("config", "--get", "remote.origin.url")) or Path(directory).resolve().name
    if not branch or branch == "HEAD":
        raise ValidationError("branch", "cannot be found (detached HEAD and no CI branch variable): pass --branch",
                              got=branch or None)
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit or ""):
        raise ValidationError("commit", "must be a git commit hash (from the CI or `git rev-parse HEAD`)",
                              got=commit or None)
    return GitContext(repo=repo, branch=branch, commit=commit, ci=ci)


def remote_branches(directory: Path, remote: str = "origin") -> set[str]:
    """Branch names the remote has now (``git ls-remote --heads``)."""
    proc = subprocess.run(["git", "-C", str(directory), "ls-remote", "--heads", remote], capture_output=True,
                          text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise ValidationError("remote", f"cannot be listed: {proc.stderr.strip()[:300]}", got=remote)
    return {line.split("refs/heads/", 1)[1] for line in proc.stdout.splitlines() if "refs/heads/" in line}

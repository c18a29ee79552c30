"""The image half of ``slipway flows deploy``: the existing CI image step (``slipway.images.ci``)
for just the variants the workflows need; only images whose hash tag is missing are built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slipway.flow.gitinfo import GitContext
from slipway.images.build import BuildOptions
from slipway.images.ci import CiSettings, run
from slipway.images.registry import Registry


class _LazyDocker:
    """Connects to the Docker Engine only when something has to be built."""

    def __init__(self) -> None:
        self._client: Any = None

    @property
    def api(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.from_env(timeout=600)
        return self._client.api


def repository_of(repository_url: str) -> str:
    """``123.dkr.ecr.eu-west-1.amazonaws.com/slipway/dev/app`` -> ``slipway/dev/app``."""
    parts = urlsplit(repository_url if "://" in repository_url else f"//{repository_url}")
    return parts.path.strip("/")


def image_step(project_dir: Path, registry: Registry, repository_url: str, ctx: GitContext, *, salt: str = "",
               main_branch: str = "main", build: BuildOptions | None = None, client: Any = None,
               log: Callable[[str], None] = lambda _m: None) -> Callable[[list[str]], Mapping[str, str]]:
    def ensure(variants: list[str]) -> Mapping[str, str]:
        settings = CiSettings(repository=repository_of(repository_url), variants=variants, salt=salt,
                              branch=ctx.branch, main_branch=main_branch, commit=ctx.short,
                              build=build or BuildOptions())
        rows = run(project_dir, registry, client or _LazyDocker(), settings, log=log)
        for r in rows:
            log(f"image {r.variant}: {r.tag} {r.action}")
        return {r.variant: r.tag for r in rows}
    return ensure

"""Layered variant image builds through the Docker Engine API (docker SDK, legacy builder)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from slipway.errors import EngineError, ValidationError
from slipway.variants.digest import SKIP_DIRS


def _template_dir() -> Path:
    """The variant image recipe: inside an installed wheel (slipway/data/variant), else the checkout's."""
    packaged = Path(str(resources.files("slipway").joinpath("data", "variant")))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "images" / "variant"


TEMPLATE_DIR = _template_dir()


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: Path | None = None  # default: images/variant/Dockerfile
    base_image: str | None = None
    pip_args: str = ""
    wheels_dir: Path | None = None
    ca_bundle: Path | None = None


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or n.endswith(".egg-info") or n.endswith((".pyc", ".pyo"))}


def make_context(ctx: Path, project_dir: Path, requirements: str, exp: list[str], opts: BuildOptions) -> Path:
    dockerfile = opts.dockerfile or TEMPLATE_DIR / "Dockerfile"
    if not dockerfile.is_file():
        raise ValidationError("dockerfile", "does not exist", got=str(dockerfile))
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copy2(dockerfile, ctx / "Dockerfile")
    shutil.copy2(TEMPLATE_DIR / "entrypoint.sh", ctx / "entrypoint.sh")
    (ctx / "requirements.txt").write_text(requirements, encoding="utf-8")
    (ctx / "exp-requirements.txt").write_text("".join(f"{r}\n" for r in exp), encoding="utf-8")
    wheels = ctx / "wheels"
    if opts.wheels_dir:
        if not opts.wheels_dir.is_dir():
            raise ValidationError("wheels_dir", "is not a directory", got=str(opts.wheels_dir))
        shutil.copytree(opts.wheels_dir, wheels)
    else:
        wheels.mkdir()
    (wheels / ".keep").touch()
    bundle = ctx / "ca-bundle.pem"
    if opts.ca_bundle:
        if not opts.ca_bundle.is_file():
            raise ValidationError("ca_bundle", "is not a file", got=str(opts.ca_bundle))
        shutil.copy2(opts.ca_bundle, bundle)
    else:
        bundle.write_text("")
    shutil.copytree(project_dir, ctx / "project", ignore=_ignore, symlinks=True)
    return ctx


def build(client: Any, ctx: Path, ref: str, opts: BuildOptions, log: Callable[[str], None]) -> str:
    args = {"PIP_ARGS": opts.pip_args}
    if opts.base_image:
        args["BASE_IMAGE"] = opts.base_image
    image_id = ""
    for chunk in client.api.build(path=str(ctx), tag=ref, buildargs=args, network_mode="host", rm=True,
                                  forcerm=True, decode=True):
        if "error" in chunk:
            raise EngineError(f"building {ref} failed: {chunk['error'].strip()}")
        if "stream" in chunk and chunk["stream"].strip():
            log(chunk["stream"].rstrip())
        aux = chunk.get("aux") or {}
        if "ID" in aux:
            image_id = aux["ID"]
    return image_id


def push(client: Any, repository_ref: str, tag: str, auth: dict[str, str] | None) -> None:
    for chunk in client.api.push(repository_ref, tag=tag, stream=True, decode=True, auth_config=auth):
        if "error" in chunk:
            raise EngineError(f"pushing {repository_ref}:{tag} failed: {chunk['error'].strip()}")

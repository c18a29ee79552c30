"""Variant images as vessels: the vessel image of a variant, and the name a vessel request resolves.

The image step builds, beside ``<repository>:<variant>-<hash16>``, a thin vessel layer over it
(images/vessel-layer/Dockerfile: sshd, python3 from the variant's venv, jupyter) pushed as
``<repository>-vessel:<variant>-<hash16>``: the same tag, so a vessel asked for ``ml`` runs exactly
the image the hash names. :func:`resolve_vessel_image` maps a variant name to that reference.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipway.errors import EngineError, NotFound, ValidationError
from slipway.images.registry import Registry
from slipway.variants.hashing import salted, tag_for
from slipway.variants.project import Project
from slipway.variants.service import compute

VESSEL_SUFFIX = "-vessel"
def _layer_dockerfile() -> Path:
    """The layer's recipe: inside an installed wheel (slipway/data/vessel-layer), else the checkout's."""
    from importlib import resources

    packaged = Path(str(resources.files("slipway").joinpath("data", "vessel-layer", "Dockerfile")))
    return packaged if packaged.is_file() else Path(__file__).resolve().parents[3] / "images" / "vessel-layer" / "Dockerfile"


LAYER_DOCKERFILE = _layer_dockerfile()
_IMAGE_REF = re.compile(r"[^:/@]+")  # a bare name, no registry, path, tag or digest


def vessel_repository(repository: str) -> str:
    return f"{repository}{VESSEL_SUFFIX}"


def is_variant_name(value: str) -> bool:
    """``ml`` is a variant name; ``debian:bookworm``, ``team/app:ml-1a2b`` or a digest are images."""
    return bool(_IMAGE_REF.fullmatch(value))


def resolve_vessel_image(name: str, *, project_dir: Path | str, registry_host: str, repository: str,
                         python: str | None = None, machine: str | None = None, salt: str = "",
                         registry: Registry | None = None) -> str:
    """``ml`` -> ``<registry_host>/<repository>-vessel:ml-<hash16>``, the hash being the variant's
    current one for the project's lock (and the CI salt, if any). With ``registry``, the tag must
    exist there (else :class:`NotFound`: the image step has not built this lock's variant yet)."""
    if not is_variant_name(name):
        raise ValidationError("image", "is an image reference, not a variant name", got=name)
    project = Project(project_dir)
    declared = project.variants()
    if name not in declared:
        raise ValidationError("image", f"names no variant of {Path(project_dir).name}/pyproject.toml",
                              allowed=sorted(declared), got=name)
    result = compute(project_dir, python=python, machine=machine, variants=[name], project=project)[0]
    tag = tag_for(name, salted(result.hash, salt))
    repo = vessel_repository(repository)
    if registry is not None and not registry.exists(repo, tag):
        raise NotFound(f"{registry_host}/{repo}:{tag} does not exist: the image step (`slipway images ci`) has "
                       f"not built variant {name!r} for this lock yet")
    return f"{registry_host.rstrip('/')}/{repo}:{tag}"


def build_vessel_layer(client: Any, variant_ref: str, vessel_ref: str, *, jupyter: str = "notebook",
                       pip_args: str = "", log: Callable[[str], None] = lambda _m: None) -> str:
    """Build ``vessel_ref`` = images/vessel-layer over ``variant_ref`` (Docker Engine API, legacy builder).

    ``jupyter`` is what pip installs into the variant's venv when it lacks Jupyter (``""``: none; the
    contract makes Jupyter optional). Returns the image id."""
    with tempfile.TemporaryDirectory(prefix="slipway-vessel-layer-") as tmp:
        shutil.copy2(LAYER_DOCKERFILE, Path(tmp) / "Dockerfile")
        image_id = ""
        for chunk in client.api.build(path=tmp, tag=vessel_ref, network_mode="host", rm=True, forcerm=True,
                                      decode=True, buildargs={"VARIANT_IMAGE": variant_ref, "JUPYTER": jupyter,
                                                              "PIP_ARGS": pip_args}):
            if "error" in chunk:
                raise EngineError(f"building {vessel_ref} failed: {chunk['error'].strip()}")
            if "stream" in chunk and chunk["stream"].strip():
                log(chunk["stream"].rstrip())
            image_id = str((chunk.get("aux") or {}).get("ID", image_id))
    return image_id

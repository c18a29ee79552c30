"""The CI step: for each variant, hash -> does ``<repo>:<variant>-<hash>`` exist? -> build and push.

Nothing is built when the tag exists (``unchanged``). ``force`` rebuilds regardless; ``salt``
changes every tag hash (manual cache invalidation). On the main branch a non-empty ``exp`` group
is an error: experiments never land on main. Registry reachability is checked before anything
is built, so an unreachable registry leaves nothing behind.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError
from slipway.images.build import BuildOptions, build, make_context, push
from slipway.images.registry import Registry
from slipway.variants.export import requirements_txt
from slipway.variants.hashing import TAG_LENGTH, salted, tag_for
from slipway.variants.project import Project
from slipway.variants.service import compute

ACTIONS = ("unchanged", "built", "pushed")


@dataclass(frozen=True)
class Row:
    variant: str
    hash: str
    tag: str
    action: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "hash": self.hash, "tag": self.tag, "action": self.action,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class CiSettings:
    repository: str
    variants: Sequence[str] = ()
    python: str | None = None
    machine: str | None = None
    force: bool = False
    salt: str = ""
    branch: str = ""
    main_branch: str = "main"
    commit: str = ""
    push: bool = True
    build: BuildOptions = field(default_factory=BuildOptions)
    # also build the thin vessel layer (sshd, Jupyter) over each built variant: <repo>-vessel:<same tag>
    vessels: bool = False
    vessel_jupyter: str = "notebook"  # what pip adds when the variant lacks Jupyter ("": nothing)


def _validate(s: CiSettings) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", s.repository or ""):
        raise ValidationError("repository", "must be an image repository name (lowercase, digits, . _ - /)",
                              got=s.repository)
    if s.commit and not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", s.commit):
        raise ValidationError("commit", "must be usable as an image tag (letters, digits, . _ -)", got=s.commit)


def plan(project_dir: Path, registry: Registry, s: CiSettings) -> tuple[Project, list[tuple[Any, str, str, bool]]]:
    """Hashes and what exists; no side effects. Returns (project, [(result, hash, tag, exists)])."""
    _validate(s)
    project = Project(project_dir)
    exp = project.exp_requirements()
    if s.branch and s.branch == s.main_branch and exp:
        raise ValidationError("exp", f"the exp group must be empty on {s.main_branch!r} (it has "
                              f"{', '.join(exp)}): move these into a real group or drop them")
    results = compute(project_dir, python=s.python, machine=s.machine, variants=list(s.variants) or None,
                      project=project)
    registry.ping()
    out = []
    for r in results:
        h = salted(r.hash, s.salt)
        tag = tag_for(r.variant.name, h)
        exists = registry.exists(s.repository, tag)
        out.append((r, h, tag, exists))
    return project, out


def run(project_dir: Path, registry: Registry, client: Any, s: CiSettings,
        log: Callable[[str], None] = lambda _m: None) -> list[Row]:
    project_dir = Path(project_dir)
    start = time.monotonic()
    project, planned = plan(project_dir, registry, s)
    elapsed_plan = time.monotonic() - start
    rows: list[Row] = []
    share = elapsed_plan / max(len(planned), 1)
    for result, h, tag, exists in planned:
        t0 = time.monotonic()
        name = result.variant.name
        if exists and not s.force:
            rows.append(Row(name, h[:TAG_LENGTH], tag, "unchanged", share + time.monotonic() - t0))
            log(f"{name}: {tag} exists, nothing to build")
            continue
        repo_ref = f"{registry.host}/{s.repository}"
        ref = f"{repo_ref}:{tag}"
        log(f"{name}: building {ref}")
        with tempfile.TemporaryDirectory(prefix="slipway-build-") as tmp:
            ctx = make_context(Path(tmp) / "ctx", project_dir, requirements_txt(project, result.packages),
                               project.exp_requirements(), s.build)
            build(client, ctx, ref, s.build, log)
        action = "built"
        if s.push:
            registry.prepare(s.repository)
            push(client, repo_ref, tag, registry.auth_config())
            extra_tags = [f"{name}-{s.commit}"] if s.commit else []
            if s.branch and s.branch == s.main_branch:
                # the moving tag Batch job definitions and ECS tasks point at (pulumi/ BatchCompute)
                extra_tags.append(f"{name}-latest")
            for extra in extra_tags:
                client.api.tag(ref, repo_ref, extra)
                push(client, repo_ref, extra, registry.auth_config())
            action = "pushed"
            log(f"{name}: pushed {ref}")
        if s.vessels:
            from slipway.images.vessel_image import build_vessel_layer, vessel_repository

            vrepo = vessel_repository(s.repository)
            vref = f"{registry.host}/{vrepo}:{tag}"
            log(f"{name}: building the vessel layer {vref}")
            build_vessel_layer(client, ref, vref, jupyter=s.vessel_jupyter, pip_args=s.build.pip_args, log=log)
            if s.push:
                registry.prepare(vrepo)
                push(client, f"{registry.host}/{vrepo}", tag, registry.auth_config())
            action += " + vessel"
        rows.append(Row(name, h[:TAG_LENGTH], tag, action, share + time.monotonic() - t0))
    return rows


def table(rows: Sequence[Row]) -> str:
    head = ("variant", "hash", "action", "seconds")
    data = [(r.variant, r.hash, r.action, f"{r.seconds:.2f}") for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *data, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*d) for d in data]
    return "\n".join(out)

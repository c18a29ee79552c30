"""Reading a stack's outputs (``pulumi stack output --json``): what the CI image step, the Batch
runner, workflows and playbooks (lookup ``slipway.infra.pulumi_output``) use to find ECR URLs,
queues, job definitions and work pools.

Secret outputs stay ``[secret]`` unless ``show_secrets`` is asked for explicitly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.errors import NotFound, SlipwayError, ValidationError

#: ``pulumi/`` of a Slipway checkout, when the package runs from one (an installed package has none).
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "pulumi"


def project_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The Pulumi project: ``path``, else ``$SLIPWAY_PULUMI_DIR``, else the current directory when it
    holds a ``Pulumi.yaml``, else the checkout's ``pulumi/`` (running from a Slipway checkout)."""
    given = path or os.environ.get("SLIPWAY_PULUMI_DIR")
    candidates = [Path(given)] if given else [Path.cwd(), DEFAULT_DIR]
    for d in candidates:
        if (d / "Pulumi.yaml").exists():
            return d
    raise ValidationError("project_dir", "has no Pulumi.yaml", got=str(candidates[0]),
                          allowed="the folder of the stack's Pulumi.yaml: --dir PATH, $SLIPWAY_PULUMI_DIR "
                                  "or the current directory (in a Slipway checkout: pulumi/)")


def stack_outputs(stack: str | None = None, *, directory: str | os.PathLike[str] | None = None,
                  show_secrets: bool = False, pulumi_bin: str = "pulumi") -> dict[str, Any]:
    exe = shutil.which(pulumi_bin)
    if exe is None:
        raise SlipwayError(f"the Pulumi CLI ({pulumi_bin!r}) is not on PATH: install it "
                           "(https://www.pulumi.com/docs/install/) and run `pulumi login`")
    argv = [exe, "stack", "output", "--json", "--non-interactive"]
    if stack:
        argv += ["--stack", stack]
    if show_secrets:
        argv.append("--show-secrets")
    proc = subprocess.run(argv, cwd=project_dir(directory), capture_output=True, text=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SlipwayError(f"`pulumi stack output` failed for stack {stack or '(selected)'}: " + " ".join(tail))
    try:
        data = json.loads(proc.stdout or "{}")
    except ValueError:
        raise SlipwayError("`pulumi stack output --json` printed something that is not JSON") from None
    if not isinstance(data, dict):
        raise SlipwayError("`pulumi stack output --json` did not print an object")
    return data


def pick(outputs: Mapping[str, Any], path: str) -> Any:
    """``ecrRepositoryUrls.detector`` -> the value under those keys; a clear error when absent."""
    value: Any = outputs
    done: list[str] = []
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            here = ".".join(done) or "the stack outputs"
            keys = sorted(value) if isinstance(value, Mapping) else []
            raise NotFound(f"stack output {path!r}: {here} has no {part!r}" +
                           (f"; it has: {', '.join(keys)}" if keys else ""))
        value = value[part]
        done.append(part)
    return value

"""Commit-message keywords (pure: no I/O): what a commit asks the cloud to run, and on what.

Each keyword is wrapped in colons at the start of its own line (``:SLIPWAY_RUN: --single-item x``)::

    :P_RUN: [args]      run ``dvc repro ARGS``; without this keyword nothing is submitted
    :P_RUN_EXP: [args]  run ``dvc exp run ARGS`` instead (the args of both keywords are joined)
    :P_GPUS: [n]        GPUs for the job (1 when no value is given)
    :P_MEMORY: MiB      memory for the job (value required)
    :P_VCPUS: n         vCPUs for the job (value required)

``P`` is the prefix (``SLIPWAY`` by default; a team coming from the seed keeps ``ACME``). Values are
split as argv with :func:`shlex.split` and never pass through a shell. Any mistake raises one
:class:`~slipway.errors.ValidationError` naming the keyword and what is allowed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from slipway.errors import ValidationError

DEFAULT_PREFIX = "SLIPWAY"
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_NUMBER = re.compile(r"^[0-9]{1,9}$")

#: keyword suffix -> (value: "args" | "optional-int" | "required-int", what it does)
KEYWORDS: dict[str, tuple[str, str]] = {
    "RUN": ("args", "run `dvc repro` with these arguments (triggers the job)"),
    "RUN_EXP": ("args", "run `dvc exp run` instead; arguments go to it"),
    "GPUS": ("optional-int", "number of GPUs (1 when no value is given)"),
    "MEMORY": ("required-int", "memory in MiB (value required)"),
    "VCPUS": ("required-int", "number of vCPUs (value required)"),
}

#: Largest size per instance family Batch may pick: (vCPUs, memory MiB, GPUs). Families not listed
#: are bounded by the compute environment's maxvCpus and ``Limits``' defaults only.
FAMILY_MAX: dict[str, tuple[int, int, int]] = {
    "c6i": (128, 256 * 1024, 0), "m6i": (128, 512 * 1024, 0), "r6i": (128, 1024 * 1024, 0),
    "c7i": (192, 384 * 1024, 0), "m7i": (192, 768 * 1024, 0), "r7i": (192, 1536 * 1024, 0),
    "g4dn": (96, 384 * 1024, 8), "g5": (192, 768 * 1024, 8), "g6": (192, 768 * 1024, 8),
    "g6e": (192, 1536 * 1024, 8), "p3": (64, 488 * 1024, 8), "p4d": (96, 1152 * 1024, 8),
    "p5": (192, 2048 * 1024, 8),
}


@dataclass(frozen=True)
class Limits:
    """What the project's job definition and its queues' compute environments allow.

    ``max_gpus`` is 0 when the project has no GPU queue. ``vcpus``/``memory``/``gpus`` are the job
    definition's defaults, used where the message names no value.
    """

    vcpus: int = 4
    memory: int = 16384
    gpus: int = 0
    max_vcpus: int = 256
    max_memory: int = 2048 * 1024
    max_gpus: int = 8

    def __post_init__(self) -> None:
        for name in ("vcpus", "memory", "gpus", "max_vcpus", "max_memory", "max_gpus"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationError(f"limits.{name}", "must be a whole number >= 0", got=value)


@dataclass(frozen=True)
class RunRequest:
    """What a commit message asks for; ``None`` fields fall back to the job definition's defaults."""

    mode: Literal["repro", "exp"]
    args: tuple[str, ...] = ()
    gpus: int | None = None
    memory: int | None = None
    vcpus: int | None = None
    keywords: tuple[str, ...] = field(default=(), compare=False)

    def dvc_argv(self) -> tuple[str, ...]:
        """The DVC command this request runs (argv, never a shell line)."""
        head = ("dvc", "repro") if self.mode == "repro" else ("dvc", "exp", "run")
        return head + self.args


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix) or len(prefix) > 32:
        raise ValidationError("prefix", "is not a keyword prefix", got=prefix,
                              allowed="upper-case letters, digits and single underscores, e.g. SLIPWAY or ACME")
    return prefix


def _names(prefix: str) -> list[str]:
    return [f":{prefix}_{k}:" for k in KEYWORDS]


def scan(message: str, prefix: str = DEFAULT_PREFIX) -> list[tuple[int, str, str]]:
    """(line number, keyword suffix, raw value) for every line that starts with ``:<prefix>...:``.

    Unknown keywords carrying the prefix raise; lines that do not start with the prefix are prose.
    """
    check_prefix(prefix)
    pattern = re.compile(r"^:(" + re.escape(prefix) + r"(?:_[A-Za-z0-9_]*)?):(.*)$")
    found: list[tuple[int, str, str]] = []
    for number, line in enumerate(message.splitlines(), start=1):
        m = pattern.match(line.rstrip())
        if m is None:
            continue
        name, value = m.group(1), m.group(2)
        suffix = name[len(prefix) + 1:]
        if suffix not in KEYWORDS:
            raise ValidationError(f":{name}:", f"unknown keyword on line {number}", allowed=_names(prefix))
        found.append((number, suffix, value.strip()))
    return found


def _argv(keyword: str, value: str) -> tuple[str, ...]:
    try:
        argv = shlex.split(value, comments=False, posix=True)
    except ValueError as exc:
        raise ValidationError(keyword, f"cannot split its arguments: {exc}", got=value,
                              allowed="shell-style words with balanced quotes (nothing runs in a shell)") from None
    if any("\x00" in a for a in argv):
        raise ValidationError(keyword, "an argument contains a NUL character", allowed="printable arguments")
    return tuple(argv)


def _number(keyword: str, argv: Sequence[str], low: int, high: int, what: str) -> int:
    if len(argv) != 1 or not _NUMBER.match(argv[0]):
        raise ValidationError(keyword, f"needs one whole number ({what})", got=" ".join(argv),
                              allowed=f"{low}..{high}")
    n = int(argv[0])
    if not low <= n <= high:
        raise ValidationError(keyword, f"is out of range ({what})", got=n, allowed=f"{low}..{high}")
    return n


def parse(message: str, limits: Limits | None = None, *, prefix: str = DEFAULT_PREFIX) -> RunRequest | None:
    """The run a commit message asks for, ``None`` when it has no ``:<prefix>_RUN:`` line.

    Raises ``ValidationError`` (and nothing else) for every mistake: unknown keyword, missing
    required value, non-numeric or out-of-range value, a keyword repeated with another value, GPUs
    on a project whose queue has none, unbalanced quotes, ``_RUN_EXP`` without ``_RUN``.
    """
    lim = limits or Limits()
    values: dict[str, tuple[str, ...]] = {}
    for _line, suffix, raw in scan(message, prefix):
        keyword = f":{prefix}_{suffix}:"
        argv = _argv(keyword, raw)
        if suffix in values and values[suffix] != argv:
            raise ValidationError(keyword, "is given twice with different values",
                                  got=[" ".join(values[suffix]), " ".join(argv)],
                                  allowed="the keyword once (or repeated with the same value)")
        values[suffix] = argv

    gpus = memory = vcpus = None
    if "GPUS" in values:
        keyword = f":{prefix}_GPUS:"
        high = lim.max_gpus or 999_999_999  # no GPU queue: any number > 0 gets the error below
        gpus = 1 if not values["GPUS"] else _number(keyword, values["GPUS"], 0, high, "GPUs")
        if gpus > 0 and lim.max_gpus == 0:
            raise ValidationError(keyword, "asks for GPUs but the project's queue has none", got=gpus,
                                  allowed="0 (or no GPU keyword)")
    if "MEMORY" in values:
        keyword = f":{prefix}_MEMORY:"
        if not values["MEMORY"]:
            raise ValidationError(keyword, "needs a value (memory in MiB)", allowed=f"4..{lim.max_memory}")
        memory = _number(keyword, values["MEMORY"], 4, lim.max_memory, "memory in MiB")
    if "VCPUS" in values:
        keyword = f":{prefix}_VCPUS:"
        if not values["VCPUS"]:
            raise ValidationError(keyword, "needs a value (number of vCPUs)", allowed=f"1..{lim.max_vcpus}")
        vcpus = _number(keyword, values["VCPUS"], 1, lim.max_vcpus, "vCPUs")

    if "RUN" not in values:
        if "RUN_EXP" in values:
            raise ValidationError(f":{prefix}_RUN_EXP:", f"needs :{prefix}_RUN: too (that keyword triggers the job)",
                                  allowed=[f":{prefix}_RUN: [args]"])
        return None
    mode: Literal["repro", "exp"] = "exp" if "RUN_EXP" in values else "repro"
    args = values["RUN"] + values.get("RUN_EXP", ())
    return RunRequest(mode=mode, args=args, gpus=gpus, memory=memory, vcpus=vcpus,
                      keywords=tuple(f":{prefix}_{k}:" for k in values))


# -- limits from AWS Batch descriptions (plain data in: describe_* responses) -------------------------

def _requirements(container: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in container.get("resourceRequirements") or ():
        try:
            out[str(r["type"]).upper()] = int(r["value"])
        except (KeyError, TypeError, ValueError):
            continue
    if "VCPU" not in out and isinstance(container.get("vcpus"), int):
        out["VCPU"] = container["vcpus"]
    if "MEMORY" not in out and isinstance(container.get("memory"), int):
        out["MEMORY"] = container["memory"]
    return out


def _environment_max(environments: Iterable[Mapping[str, Any]]) -> tuple[int, int, int]:
    vcpus = memory = gpus = 0
    for env in environments:
        res = env.get("computeResources") or {}
        env_vcpus = int(res.get("maxvCpus") or 0)
        fam_vcpus = fam_memory = fam_gpus = 0
        known = True
        for itype in res.get("instanceTypes") or ():
            family = str(itype).split(".")[0]
            if family not in FAMILY_MAX:
                known = False
                continue
            v, m, g = FAMILY_MAX[family]
            fam_vcpus, fam_memory, fam_gpus = max(fam_vcpus, v), max(fam_memory, m), max(fam_gpus, g)
        if not known or not fam_vcpus:
            fam_vcpus, fam_memory = env_vcpus, Limits.max_memory
        vcpus = max(vcpus, min(env_vcpus, fam_vcpus) if env_vcpus else fam_vcpus)
        memory = max(memory, fam_memory)
        gpus = max(gpus, fam_gpus)
    return vcpus, memory, gpus


def limits_from_batch(job_definition: Mapping[str, Any], cpu_environments: Iterable[Mapping[str, Any]],
                      gpu_environments: Iterable[Mapping[str, Any]] = ()) -> Limits:
    """``Limits`` from a ``describe_job_definitions`` entry and the ``describe_compute_environments``
    entries behind the CPU and GPU queues (no GPU environments: GPUs are not allowed)."""
    req = _requirements(job_definition.get("containerProperties") or {})
    cpu_v, cpu_m, _ = _environment_max(cpu_environments)
    gpu_list = list(gpu_environments)
    gpu_v, gpu_m, gpu_g = _environment_max(gpu_list)
    max_gpus = (gpu_g or 8) if gpu_list else 0
    return Limits(vcpus=req.get("VCPU", 4), memory=req.get("MEMORY", 16384),
                  gpus=req.get("GPU", 0) if max_gpus else 0,
                  max_vcpus=max(cpu_v, gpu_v) or Limits.max_vcpus,
                  max_memory=max(cpu_m, gpu_m) or Limits.max_memory, max_gpus=max_gpus)

"""A vessel request: normalise and validate what a user typed (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slipway.config import DEFAULT_CPUS, DEFAULT_IMAGE, DEFAULT_MEMORY
from slipway.errors import ValidationError

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,46}[a-z0-9]|[a-z]")  # always fullmatch: `$` matches before a "\n"
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
QUEUE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
ANY_QUEUE = "any"
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
_SIZE_RE = re.compile(r"[ \t]*([0-9]+(?:\.[0-9]+)?)[ \t]*([a-zA-Z]*)[ \t]*")
MIN_MEMORY_MIB = 6  # the Docker Engine refuses a memory limit below 6 MB
# The reference grammar the Docker Engine uses (distribution/reference): [domain[:port]/]path[:tag][@digest]
_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*(?::[0-9]+)?)"
_PATH_COMP = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMP}(?:/{_PATH_COMP})*)"
                      rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?")
_SIZE_UNITS = {"": 1024, "g": 1024, "gb": 1024, "gib": 1024, "m": 1, "mb": 1, "mib": 1,
               "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024}


@dataclass(frozen=True)
class VesselRequest:
    """What a researcher asks for. ``memory_mib`` is the limit; sizes typed in GiB by default."""

    name: str
    user: str
    gpus: int = 0
    queue: str = ANY_QUEUE
    cpus: int = 1
    memory_mib: int = 4096  # DEFAULT_MEMORY
    image: str = DEFAULT_IMAGE
    ssh_public_key: str = ""
    shm_mib: int = 0
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"gpus={self.gpus}, cpus={self.cpus}, memory={format_mib(self.memory_mib)}"
                f", queue={self.queue}")


def format_mib(mib: int) -> str:
    if mib % 1024 == 0:
        return f"{mib // 1024} GiB"
    return f"{mib / 1024:.1f} GiB"


def parse_int(fieldname: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer from a number or a string of digits; bools and fractions are refused."""
    allowed = f"a whole number from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
    if isinstance(value, bool):
        raise ValidationError(fieldname, "must be a whole number", allowed=allowed, got=value)
    if isinstance(value, int):
        n = value
    elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and re.fullmatch(r"[ \t]*[+-]?[0-9]+[ \t]*", value)):
        n = int(value)
    else:
        raise ValidationError(fieldname, "must be a whole number", allowed=allowed, got=value)
    if n < minimum or (maximum is not None and n > maximum):
        raise ValidationError(fieldname, "out of range", allowed=allowed, got=value)
    return n


def parse_size_mib(fieldname: str, value: Any, *, default_unit: str = "g") -> int:
    """A size in MiB from ``16``, ``16G``, ``16GiB``, ``512M``, ``0.5`` (GiB unless a unit says so)."""
    allowed = "a positive size in GiB (e.g. 16) or with a unit: 512M, 16G, 1T"
    if isinstance(value, bool):
        raise ValidationError(fieldname, "must be a size", allowed=allowed, got=value)
    if isinstance(value, int | float):
        number, unit = float(value), default_unit
    elif isinstance(value, str) and (m := _SIZE_RE.fullmatch(value)):
        number, unit = float(m.group(1)), (m.group(2).lower() or default_unit)
    else:
        raise ValidationError(fieldname, "must be a size", allowed=allowed, got=value)
    if unit not in _SIZE_UNITS:
        raise ValidationError(fieldname, f"unknown unit {unit!r}", allowed=allowed, got=value)
    mib = int(number * _SIZE_UNITS[unit])
    if mib <= 0:
        raise ValidationError(fieldname, "must be more than 0", allowed=allowed, got=value)
    return mib


def validate_name(value: Any, fieldname: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ValidationError(fieldname, "not a valid vessel name",
                              allowed="1-48 characters: lowercase letters, digits and '-', "
                                      "starting with a letter, not ending with '-'", got=value)
    return value


def validate_user(value: Any) -> str:
    if not isinstance(value, str) or not USER_RE.fullmatch(value):
        raise ValidationError("user", "not a valid user name",
                              allowed="a Unix login: lowercase letters, digits, '_' and '-', "
                                      "at most 32 characters", got=value)
    return value


def validate_image(value: Any) -> str:
    """An image reference by the grammar the Docker Engine applies (so it cannot name another endpoint)."""
    allowed = "[registry[:port]/]path[:tag][@digest] with lower-case path components, e.g. slipway/vessel:latest"
    if not isinstance(value, str) or len(value) > 255:
        raise ValidationError("image", "not a valid image reference", allowed=allowed, got=value)
    m = IMAGE_RE.fullmatch(value)
    first = value.split("/", 1)[0]
    if m and m.group("domain") and "/" in value and not ("." in first or ":" in first or first == "localhost"):
        m = IMAGE_RE.fullmatch(value) if first == first.lower() else None  # a path component, not a domain
    if m is None:
        lower = value.lower()
        problem = ("repository names must be lower case" if lower != value and IMAGE_RE.fullmatch(
            value.split("/", 1)[0] + "/" + lower.split("/", 1)[1] if "/" in value else lower) else
                   "not a valid image reference")
        raise ValidationError("image", problem, allowed=allowed, got=value)
    return value


def validate_ssh_public_key(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("ssh_public_key", "must be an OpenSSH public key line",
                              allowed=" or ".join(SSH_KEY_TYPES[:3]) + " ...")
    key = value.strip()
    parts = key.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES or not re.fullmatch(r"[A-Za-z0-9+/=]+", parts[1]):
        first = key.split("\n", 1)[0][:30]
        raise ValidationError("ssh_public_key", "not an OpenSSH public key line",
                              allowed="'<type> <base64> [comment]' with type one of "
                                      + ", ".join(SSH_KEY_TYPES), got=first + ("..." if len(key) > 30 else ""))
    if "PRIVATE KEY" in key:
        raise ValidationError("ssh_public_key", "this is a private key; give the .pub file's line")
    return " ".join(parts[:3])


def build_request(*, user: Any, name: Any = None, gpus: Any = 0, queue: Any = None, cpus: Any = None,
                  memory: Any = None, image: Any = None, ssh_public_key: Any = "",
                  shm_size: Any = None, labels: dict[str, str] | None = None,
                  default_cpus: int = DEFAULT_CPUS, default_memory: Any = DEFAULT_MEMORY,
                  default_image: str = DEFAULT_IMAGE, require_key: bool = True) -> VesselRequest:
    """Validate raw input (strings from ``-e``, numbers from YAML) into a VesselRequest.

    The ``default_*`` values are the site's (``slipway.config.Settings``). Without a name the request's
    name is empty: the service gives it ``<user>-<n>``, the same in check mode and in the real launch.
    Raises ValidationError naming the field.
    """
    user_s = validate_user(user)
    name_s = validate_name(name) if name not in (None, "") else ""
    gpus_n = parse_int("gpus", 0 if gpus in (None, "") else gpus, minimum=0)
    if queue in (None, ""):
        queue_s = ANY_QUEUE
    elif isinstance(queue, str) and QUEUE_RE.fullmatch(queue):
        queue_s = queue
    else:
        raise ValidationError("queue", "not a valid queue name",
                              allowed="a hardware class such as a100, rtx3090 or cpu", got=queue)
    cpus_n = parse_int("cpus", default_cpus if cpus in (None, "") else cpus, minimum=1, maximum=1024)
    mem = parse_size_mib("memory", default_memory if memory in (None, "") else memory)
    image_s = validate_image(default_image if image in (None, "") else image)
    if mem < MIN_MEMORY_MIB:
        raise ValidationError("memory", "below the container engine's minimum",
                              allowed=f"at least {MIN_MEMORY_MIB} MiB", got=memory)
    key = ""
    if ssh_public_key not in (None, ""):
        key = validate_ssh_public_key(ssh_public_key)
    elif require_key:
        raise ValidationError("ssh_public_key", "is required (no key was given or found)",
                              allowed="an OpenSSH public key line, e.g. the content of ~/.ssh/id_ed25519.pub")
    shm = mem // 4 if shm_size in (None, "") else parse_size_mib("shm_size", shm_size)
    if shm > mem:
        raise ValidationError("shm_size", "cannot exceed the vessel's memory",
                              allowed=f"at most {format_mib(mem)}", got=shm_size)
    return VesselRequest(name=name_s, user=user_s, gpus=gpus_n, queue=queue_s, cpus=cpus_n, memory_mib=mem,
                         image=image_s, ssh_public_key=key, shm_mib=shm, labels=dict(labels or {}))

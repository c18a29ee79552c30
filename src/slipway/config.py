"""One settings loader for every face: module parameters / inventory variables, environment, a config file.

Precedence, highest first: what the face was given (module parameters, CLI options; ``None`` means "not
given"), the environment (``SLIPWAY_<KEY>``), the config file (``$SLIPWAY_CONFIG`` or
``~/.config/slipway/config.yml``: a YAML mapping whose keys are the inventory variables, ``slipway_*`` and
``undertaker_*``, so a group_vars file works as it is; Jinja expressions in it are ignored), then the
defaults written below, once. Every face calls :func:`load_settings` (vessels) or
:func:`load_undertaker_options` (the undertaker) and nothing else builds settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slipway.errors import ValidationError
from slipway.network.tailscale import TailscaleSettings

DEFAULT_IMAGE = "slipway/vessel:latest"
DEFAULT_CPUS = 1
DEFAULT_MEMORY = "4G"
DEFAULT_TAILSCALE_API_URL = "https://api.tailscale.com"
DEFAULT_TAILSCALE_TAGS = ("tag:slipway-vessel",)
DEFAULT_UID_BASE = 200000  # vessel accounts get uids far above any host account (see README: uid range)

# key → (default, kind). kind: str | int | float | bool | list | secret
KEYS: dict[str, tuple[Any, str]] = {
    "ledger_url": ("", "secret"),
    "admins": ((), "list"),
    "default_image": (DEFAULT_IMAGE, "str"),
    "default_cpus": (DEFAULT_CPUS, "int"),
    "default_memory": (DEFAULT_MEMORY, "str"),
    "vessel_home": ("volume", "str"),
    "ready_timeout": (60.0, "float"),
    "pull": (True, "bool"),
    "jupyter": (True, "bool"),
    "tailscale_api_key": ("", "secret"),
    "tailscale_tailnet": ("-", "str"),
    "tailscale_tags": (DEFAULT_TAILSCALE_TAGS, "list"),
    "tailscale_api_url": (DEFAULT_TAILSCALE_API_URL, "str"),
    "uid_base": (DEFAULT_UID_BASE, "int"),
    "server_url": ("", "str"),
    # `-e image=ml`: a variant name of this project resolves to its current vessel image on this registry
    "variant_project": ("", "str"),
    "image_registry": ("", "str"),
    "image_repository": ("", "str"),
}
# module parameter names that differ from the settings key
ALIASES = {"home": "vessel_home"}


@dataclass
class Settings:
    """Site settings, validated once. Secrets are excluded from repr."""

    ledger_url: str | None = field(default=None, repr=False)
    admins: tuple[str, ...] = ()
    tailscale: TailscaleSettings | None = field(default=None, repr=False)
    home: str = "volume"
    ssh_home: str | None = None  # whose ~/.ssh gets the entries (default: $HOME)
    data_dir: Path | None = None
    ready_timeout: float = 60.0
    pull: bool = True
    jupyter: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    default_image: str = DEFAULT_IMAGE
    default_cpus: int = DEFAULT_CPUS
    default_memory: str = DEFAULT_MEMORY
    uid_base: int = DEFAULT_UID_BASE
    server_url: str = ""
    face: str = "cli"  # which face's commands hints name: cli | ansible
    variant_project: str = ""
    image_registry: str = ""
    image_repository: str = ""


def config_file_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SLIPWAY_CONFIG"):
        return Path(env["SLIPWAY_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "slipway" / "config.yml"


def read_config_file(path: str | Path | None, *, required: bool = False) -> dict[str, Any]:
    """The config file's keys (``slipway_``/``undertaker_`` prefixes kept); Jinja expressions dropped."""
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():
        if required:
            raise ValidationError("config", f"{p} does not exist", allowed="a YAML mapping of settings")
        return {}
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError("config", f"cannot read {p}: {exc}", allowed="a YAML mapping") from None
    if not isinstance(raw, dict):
        raise ValidationError("config", f"{p} must be a YAML mapping", allowed="slipway_* / undertaker_* keys")
    return {str(k): v for k, v in raw.items() if not (isinstance(v, str) and "{{" in v)}


def _layered(prefix: str, keys: Mapping[str, Any], given: Mapping[str, Any] | None, env: Mapping[str, str],
             file_values: Mapping[str, Any]) -> dict[str, Any]:
    """For each key: given (not None/'') > SLIPWAY_<KEY> / <PREFIX><KEY> env > file > nothing."""
    out: dict[str, Any] = {}
    for key in keys:
        for source in (file_values.get(prefix + key), file_values.get(key)):
            if source not in (None, ""):
                out[key] = source
        env_name = f"SLIPWAY_{key.upper()}" if prefix == "slipway_" else f"SLIPWAY_{(prefix + key).upper()}"
        if env.get(env_name):
            out[key] = env[env_name]
    for k, v in (given or {}).items():
        key = ALIASES.get(k, k)
        if key in keys and v not in (None, "") and not (isinstance(v, list | tuple) and not v):
            out[key] = v
    return out


def _coerce(key: str, value: Any, kind: str, prefix: str) -> Any:
    name = prefix + key
    if kind == "list":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        raise ValidationError(name, "must be a list", allowed="a YAML list or a comma-separated string", got=value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValidationError(name, "must be true or false", allowed="true, false", got=value)
    if kind in ("int", "float"):
        try:
            n = float(value)
        except (TypeError, ValueError):
            raise ValidationError(name, "must be a number", got=value) from None
        if kind == "int":
            if n != int(n):
                raise ValidationError(name, "must be a whole number", got=value)
            return int(n)
        return n
    return str(value)


def load_settings(given: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                  config_file: str | Path | None = None, ssh_home: str | None = None,
                  data_dir: Path | None = None, face: str = "cli") -> Settings:
    """The vessel settings every face uses. ``given``: the face's own arguments (module params, options)."""
    env = os.environ if env is None else env
    explicit = config_file is not None
    file_values = read_config_file(config_file if explicit else config_file_path(env), required=explicit)
    raw = _layered("slipway_", KEYS, given, env, file_values)
    v = {k: _coerce(k, raw[k], KEYS[k][1], "slipway_") if k in raw else KEYS[k][0] for k in KEYS}
    ts = None
    if v["tailscale_api_key"]:
        ts = TailscaleSettings(api_key=str(v["tailscale_api_key"]), tailnet=str(v["tailscale_tailnet"] or "-"),
                               tags=tuple(v["tailscale_tags"]), api_url=str(v["tailscale_api_url"]))
    if v["default_cpus"] < 1:
        raise ValidationError("slipway_default_cpus", "must be at least 1", got=v["default_cpus"])
    if not 1000 <= v["uid_base"] <= 2**31 - 70000:
        raise ValidationError("slipway_uid_base", "out of range", got=v["uid_base"],
                              allowed="1000 to 2147413647 (a range no host account uses)")
    return Settings(ledger_url=str(v["ledger_url"]) or None, admins=tuple(v["admins"]), tailscale=ts,
                    home=str(v["vessel_home"]), ssh_home=ssh_home, data_dir=data_dir,
                    ready_timeout=float(v["ready_timeout"]), pull=bool(v["pull"]), jupyter=bool(v["jupyter"]),
                    default_image=str(v["default_image"]), default_cpus=int(v["default_cpus"]),
                    default_memory=str(v["default_memory"]), uid_base=int(v["uid_base"]),
                    server_url=str(v["server_url"]), face=face, variant_project=str(v["variant_project"]),
                    image_registry=str(v["image_registry"]), image_repository=str(v["image_repository"]))


UNDERTAKER_KEYS = ("prometheus_url", "calendar", "window_hours", "idle_percent", "slack_webhook_url", "admins",
                   "slack_users", "metric", "uuid_label", "admin_realert_hours", "keep_max_hours", "keep_hint",
                   "lock_file", "lock_timeout", "prometheus_timeout", "coverage", "failed_runs_alert")


def load_undertaker_options(given: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                            config_file: str | Path | None = None) -> dict[str, Any]:
    """The undertaker's un-prefixed options (for ``UndertakerConfig.parse``), from the same sources.

    The Slack webhook is a secret: it comes from ``SLIPWAY_SLACK_WEBHOOK_URL``, the config file or the
    module's ``no_log`` parameter, never from a command line.
    """
    env = os.environ if env is None else env
    explicit = config_file is not None
    file_values = read_config_file(config_file if explicit else config_file_path(env), required=explicit)
    out = {k: v for k, v in file_values.items() if k.startswith("undertaker_")}
    opts: dict[str, Any] = {k.removeprefix("undertaker_"): v for k, v in out.items()}
    if not opts.get("admins") and file_values.get("slipway_admins"):
        opts["admins"] = file_values["slipway_admins"]
    for key, env_name in (("slack_webhook_url", "SLIPWAY_SLACK_WEBHOOK_URL"),
                          ("prometheus_url", "SLIPWAY_PROMETHEUS_URL")):
        if env.get(env_name):
            opts[key] = env[env_name]
    if env.get("SLIPWAY_ADMINS") and not opts.get("admins"):
        opts["admins"] = env["SLIPWAY_ADMINS"]
    opts.update({k: v for k, v in (given or {}).items() if v not in (None, "", ())})
    return opts

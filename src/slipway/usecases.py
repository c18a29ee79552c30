"""The use cases, one function each: every face (Ansible module, CLI command, server route) maps its
arguments to one of these and formats what comes back. Settings come from :func:`slipway.config.load_settings`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from slipway.config import Settings, load_undertaker_options
from slipway.identity import Actor, local_actor
from slipway.request import build_request
from slipway.table import render
from slipway.vessels import (
    LIST_ALL_COLUMNS,
    LIST_COLUMNS,
    LaunchResult,
    Repair,
    StopResult,
    default_key_pair,
    service,
    vessel_rows,
)

LAUNCH_FIELDS = ("name", "user", "gpus", "queue", "cpus", "memory", "shm_size", "image", "ssh_public_key")


def _actor(settings: Settings, actor: Actor | None) -> Actor:
    return actor or local_actor(settings.admins)


def launch(settings: Settings, fields: Mapping[str, Any], *, actor: Actor | None = None,
           fleet: Any = None, check: bool = False, replace_existing: bool = False) -> LaunchResult:
    """Validate the request fields, sync the fleet if given, and launch (or plan, in check mode).

    SIGTERM (what ``timeout`` and a cancelled CI job send) rolls the launch back as Ctrl-C does.
    """
    f = {k: fields.get(k) for k in LAUNCH_FIELDS}
    if settings.server_url:
        return _remote_launch(settings, f, check=check)
    who = _actor(settings, actor)
    f["image"] = variant_image(settings, f["image"])
    key, identity = (f["ssh_public_key"], None) if f["ssh_public_key"] else default_key_pair()
    req = build_request(user=f["user"] or who.name, name=f["name"], gpus=f["gpus"], queue=f["queue"],
                        cpus=f["cpus"], memory=f["memory"], image=f["image"], shm_size=f["shm_size"],
                        ssh_public_key=key, default_cpus=settings.default_cpus,
                        default_memory=settings.default_memory, default_image=settings.default_image)
    with service(settings) as svc, terminate_as_interrupt():
        if fleet:
            svc.sync_fleet(fleet)
        return svc.launch(req, actor=who, check=check, identity_file=identity, replace_existing=replace_existing)


# ---------------------------------------------------------------------------------------------- team mode
def _client(settings: Settings) -> Any:
    """The server's API (``slipway_server_url`` / ``SLIPWAY_SERVER_URL``): the token from ``SLIPWAY_TOKEN``
    or ``slipway login``'s cache. Identity comes from the token: a caller-set user or admin list is refused."""
    import os

    from slipway.errors import ValidationError
    from slipway.server.client import Client

    for var in ("SLIPWAY_USER", "SLIPWAY_ADMINS"):
        if os.environ.get(var):
            raise ValidationError(var, "has no effect through the server: who you are comes from your login "
                                       "(or SLIPWAY_TOKEN) and admin rights from the server's role mapping",
                                  allowed="unset it")
    return Client(settings.server_url)


def _remote_launch(settings: Settings, f: dict[str, Any], *, check: bool) -> LaunchResult:
    if f.get("user"):
        from slipway.errors import ValidationError

        raise ValidationError("user", "has no effect through the server: the owner is the logged-in user",
                              allowed="leave it out", got=f["user"])
    key, identity = (f["ssh_public_key"], None) if f["ssh_public_key"] else default_key_pair()
    body = {k: v for k, v in f.items() if k != "user" and v not in (None, "")}
    body["ssh_public_key"] = key
    answer = _client(settings).launch(**body, check=check)
    vessel = answer.get("vessel") or {}
    if not check:
        from slipway.server.client import write_ssh_entry

        write_ssh_entry(vessel, identity_file=identity, home=settings.ssh_home)
    return LaunchResult(bool(answer.get("changed")), vessel, str(answer.get("summary", "")),
                        answer.get("placement") or {}, answer.get("timings") or {})


def vessel_from_dict(d: Mapping[str, Any]) -> Any:
    """A :class:`slipway.ledger.Vessel` from the API's JSON (for the same table as the local one)."""
    from datetime import datetime as dt

    from slipway.ledger import Vessel, utcnow

    fields = Vessel.__dataclass_fields__
    values: dict[str, Any] = {k: d.get(k) for k in fields}
    for k in ("keep_until", "created_at", "updated_at", "ended_at", "lease_until"):
        values[k] = dt.fromisoformat(d[k]) if d.get(k) else (utcnow() if k in ("created_at", "updated_at") else None)
    values["gpu_uuids"] = tuple(d.get("gpu_uuids") or ())
    for k in ("cpus", "memory_mib", "shm_mib", "id"):
        values[k] = int(d.get(k) or 0)
    for k in ("name", "owner", "host", "queue", "state", "image", "cpuset"):
        values[k] = str(d.get(k) or "")
    values["host_address"] = str(d.get("host_address") or "")
    values["docker_url"] = str(d.get("docker_url") or "")
    values["network_mode"] = str(d.get("network_mode") or "host")
    return Vessel(**values)


def variant_image(settings: Settings, image: Any) -> Any:
    """``ml`` (a variant of the team's project) → its current vessel image ``<registry>/<repo>-vessel:ml-<hash>``;
    anything else is left as it is. The image step builds that vessel layer over the variant's image."""
    if not (settings.variant_project and isinstance(image, str) and image):
        return image
    from slipway.images.vessel_image import is_variant_name, resolve_vessel_image
    from slipway.variants.project import Project

    if not is_variant_name(image) or image not in Project(settings.variant_project).variants():
        return image
    if not (settings.image_registry and settings.image_repository):
        from slipway.errors import ValidationError

        raise ValidationError("slipway_image_registry", f"image {image!r} is a variant: the registry and "
                              "repository of the team's images are needed to name its vessel image",
                              allowed="slipway_image_registry (host[:port]) and slipway_image_repository")
    return resolve_vessel_image(image, project_dir=settings.variant_project, registry_host=settings.image_registry,
                                repository=settings.image_repository)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises KeyboardInterrupt, so the launch's rollback runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@dataclass
class ReconcileResult:
    repairs: list[Repair]
    table: str

    @property
    def changed(self) -> bool:
        return any(r.action != "none" for r in self.repairs)


RECONCILE_COLUMNS = ("vessel", "host", "finding", "action")


def reconcile(settings: Settings, *, hosts: list[str] | None = None, check: bool = False,
              actor: Actor | None = None) -> ReconcileResult:
    """Make the ledger and every host's engine agree (``check``: the table of what it would repair)."""
    with service(settings) as svc:
        repairs = svc.reconcile_fleet(hosts=hosts, check=check, actor=actor)
    return ReconcileResult(repairs, render([r.row() for r in repairs], list(RECONCILE_COLUMNS),
                                           empty="the ledger and the hosts agree"))


def stop(settings: Settings, name: str, *, actor: Actor | None = None, check: bool = False,
         reason: str | None = None, force: bool = False) -> StopResult:
    if settings.server_url:
        answer = _client(settings).stop(name, reason=reason, check=check)
        if not check and answer.get("changed"):
            from slipway.server.client import forget_ssh_entry

            forget_ssh_entry(name, home=settings.ssh_home)
        return StopResult(bool(answer.get("changed")), answer.get("vessel") or {}, str(answer.get("summary", "")))
    with service(settings) as svc:
        return svc.stop(name, actor=_actor(settings, actor), check=check, reason=reason, force=force)


def status(settings: Settings, name: str) -> dict[str, Any]:
    if settings.server_url:
        answer: dict[str, Any] = _client(settings).status(name)
        return answer
    with service(settings) as svc:
        return svc.info(name)


@dataclass
class VesselList:
    vessels: list[dict[str, Any]]
    rows: list[dict[str, str]]
    table: str


def list_vessels(settings: Settings, *, include_ended: bool = False, owner: str | None = None,
                 host: str | None = None) -> VesselList:
    if settings.server_url:
        got = [v for v in _client(settings).vessels(show_all=include_ended, owner=owner)
               if host is None or v.get("host") == host]
        rows = vessel_rows([vessel_from_dict(v) for v in got])
        return VesselList(got, rows, render(rows, list(LIST_ALL_COLUMNS if include_ended else LIST_COLUMNS),
                                            empty="no vessels" + ("" if include_ended else " running")))
    with service(settings) as svc:
        vs = svc.ledger.vessels(active=not include_ended, owner=owner, host=host)
    rows = vessel_rows(vs)
    table = render(rows, list(LIST_ALL_COLUMNS if include_ended else LIST_COLUMNS),
                   empty="no vessels" + ("" if include_ended else " running"))
    return VesselList([v.as_dict() for v in vs], rows, table)


@dataclass
class KeepResult:
    changed: bool
    keep_until: str | None
    summary: str
    diff: dict[str, Any] = field(default_factory=dict)


def keep(settings: Settings, name: str, *, actor: Actor | None = None, hours: float | None = None,
         until: str | datetime | None = None, clear: bool = False, max_hours: float = 168.0,
         check: bool = False) -> KeepResult:
    from slipway.undertaker.service import parse_now, set_keep

    if settings.server_url:
        answer = _client(settings).keep(name, hours=hours, until=str(until) if until else None, clear=clear,
                                        check=check)
        ku = (answer.get("after") or {}).get("keep_until")
        changed = bool(answer.get("changed"))
        text = (f"{name} is kept until {ku}" if ku else f"{name} has no keep flag") + ("" if changed else " (unchanged)")
        return KeepResult(changed, ku, text, {"before": answer.get("before"), "after": answer.get("after")})
    when = parse_now(until, "until") if until not in (None, "") else None
    with service(settings) as svc:
        changed, before, after = set_keep(svc.ledger, name, actor=_actor(settings, actor), hours=hours,
                                          until=when, clear=clear, max_hours=max_hours, check=check)
    ku = after["keep_until"]
    text = (f"{name} is kept until {ku}" if ku else f"{name} has no keep flag") + ("" if changed else " (unchanged)")
    return KeepResult(changed, ku, text, {"before": before, "after": after})


def sync_fleet(settings: Settings, fleet: Any) -> list[str]:
    with service(settings) as svc:
        return svc.sync_fleet(fleet)


@dataclass
class HostResult:
    changed: bool
    host: dict[str, Any]
    diff: dict[str, Any]


def record_host(settings: Settings, name: str, values: Mapping[str, Any], *, state: str = "present",
                check: bool = False) -> HostResult:
    """Record (or disable, ``state=absent``) one host in the ledger from its un-prefixed settings."""
    from slipway.fleet import host_spec_from

    with service(settings) as svc:
        before = svc.ledger.host(name)
        want = (replace(before, enabled=False) if before else None) if state == "absent" else \
            host_spec_from(name, values, known=before)
        changed = want is not None and want != before
        if changed and not check and want is not None:
            svc.ledger.sync_hosts([want], actor="fleet_host")
    b = asdict(before) if before else {}
    a = asdict(want) if want else {}
    return HostResult(changed, a, {"before": b, "after": a})


def undertaker_run(settings: Settings, options: Mapping[str, Any] | None = None, *,
                   config_file: str | Path | None = None, now: str | datetime | None = None,
                   check: bool = False) -> Any:
    """One undertaker run over the whole fleet (the cron job, the playbook and the CLI)."""
    from slipway.metrics import Prometheus
    from slipway.notify import notifier
    from slipway.undertaker.config import UndertakerConfig
    from slipway.undertaker.service import Undertaker, parse_now

    cfg = UndertakerConfig.parse(load_undertaker_options(options, config_file=config_file))
    when = parse_now(now)
    prom = Prometheus(cfg.prometheus_url, timeout=cfg.prometheus_timeout, field_name="undertaker_prometheus_url")
    try:
        with service(replace(settings, admins=(*settings.admins, *cfg.admins))) as svc:
            svc.reconcile_fleet(check=check)  # the ledger agrees with the engines before anything is judged
            return Undertaker(cfg, svc, prom, notifier(cfg.slack_webhook_url)).run(when, check=check)
    finally:
        prom.close()


# ---------------------------------------------------------------------------------------------- variants
@dataclass
class StepResult:
    """What a CI-side use case did: ``changed``, its data for the face, a diff."""

    changed: bool
    data: dict[str, Any]
    diff: dict[str, Any] = field(default_factory=dict)


def variant_hash(project_dir: str | Path, *, python: str | None = None, machine: str | None = None,
                 variants: list[str] | None = None, write: bool = False, check: bool = False,
                 fail_on_stale: bool = False) -> StepResult:
    """The variants' canonical hashes; with ``write`` the hashes file is brought up to date."""
    from slipway.errors import ValidationError
    from slipway.variants.service import check_hashes, compute, write_hashes

    results = compute(project_dir, python=python, machine=machine, variants=variants or None)
    chk = check_hashes(project_dir, results)
    changed = write and chk.current != chk.expected
    if changed and not check:
        write_hashes(project_dir, results)
    data: dict[str, Any] = {"variants": [r.as_dict() for r in results], "hashes": {r.variant.name: r.hash for r in results},
                            "stale": list(chk.stale), "hashes_file": str(chk.path)}
    diff = ({"before": chk.current or "", "after": chk.expected, "before_header": str(chk.path),
             "after_header": str(chk.path)} if changed else {})
    if fail_on_stale and chk.stale and not changed:
        raise ValidationError("hashes_file", f"{chk.path.name} is stale for variant(s) {', '.join(chk.stale)}",
                              allowed="run `slipway variants hash --write`")
    return StepResult(changed, data, diff)


def image_step(project_dir: str | Path, p: Mapping[str, Any], *, check: bool = False) -> StepResult:
    """The CI image step: build and push the variants whose hash has no image yet (check: plan only)."""
    from slipway.images.build import BuildOptions
    from slipway.images.ci import CiSettings, Row, plan, table
    from slipway.images.ci import run as ci_run
    from slipway.images.registry import registry_from
    from slipway.variants.project import Project

    def path(key: str) -> Path | None:
        return Path(p[key]) if p.get(key) else None

    reg = registry_from(p["registry"], endpoint_url=p.get("endpoint_url"), username=p.get("registry_username"),
                        password=p.get("registry_password"))
    ci = CiSettings(p["repository"], list(p.get("variants") or []), p.get("python"), p.get("machine"),
                    bool(p.get("force")), p.get("salt") or "", p.get("branch") or "", p.get("main_branch") or "main",
                    p.get("commit") or "", bool(p.get("push", True)),
                    BuildOptions(path("dockerfile"), p.get("base_image"), p.get("pip_args") or "", path("wheels_dir"),
                                 path("ca_bundle")), vessels=bool(p.get("vessels")))
    root = Path(project_dir)
    if check:
        project, planned = plan(root, reg, ci)
        rows = [Row(r.variant.name, h[:16], tag, "unchanged" if exists and not ci.force else "would build", 0.0)
                for r, h, tag, exists in planned]
        exp = project.exp_requirements()
    else:
        import docker

        client = docker.DockerClient(base_url=p["docker_host"], timeout=600) if p.get("docker_host") \
            else docker.from_env(timeout=600)
        try:
            rows = ci_run(root, reg, client, ci)
        finally:
            client.close()
        exp = Project(root).exp_requirements()
    changed = any(r.action != "unchanged" for r in rows)
    diff = ({"before": "".join(f"{r.variant}: absent\n" for r in rows if r.action != "unchanged"),
             "after": "".join(f"{r.variant}: {r.tag}\n" for r in rows if r.action != "unchanged")} if changed else {})
    return StepResult(changed, {"rows": [r.as_dict() for r in rows], "table": table(rows), "exp": exp}, diff)

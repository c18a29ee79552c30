"""The CI step for flows: discover every ``Workflow``, make sure its image exists, then create or
update its Prefect deployment (nothing changed: nothing sent).

    discover(project_dir, paths)          import the configured files; bind each Workflow to its flow
    plan(...)                             DeploymentSpec per workflow: name, pool, image, tags, schedule
    apply(client, specs)                  pools checked first, then create / update / unchanged rows

On the main branch a deployment has its own name and (by default) the daily smoke schedule; on
any other branch it is a development deployment named after the slugged branch, tagged ``dev``,
unscheduled, and its job variables carry the branch's ``exp`` requirements (``SLIPWAY_EXP``, which
the image's entry point installs at container start). Everything that can be wrong is found before
the first write: a bad declaration leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.errors import SlipwayError, ValidationError
from slipway.flow.ecs_template import VOLUME_VARIABLES
from slipway.flow.gitinfo import GitContext, slug
from slipway.flow.machines import AwsEcsMachine, LocalMachine
from slipway.flow.workflow import DAILY, REGISTRY, Workflow, check_cron
from slipway.variants.hashing import salted, tag_for

ACTIONS = ("created", "updated", "unchanged")
#: where the variant image holds the project's code (images/variant/Dockerfile)
IMAGE_PROJECT_DIR = "/opt/project"
#: the variant image's entry point (installs $SLIPWAY_EXP), used by LocalMachine dev deployments too
LOCAL_ENTRYPOINT = Path(__file__).resolve().parents[3] / "images" / "variant" / "entrypoint.sh"
SKIP = {"__pycache__", ".git", ".venv", "node_modules", "tests"}


@dataclass(frozen=True)
class FlowsConfig:
    """``[tool.slipway.flows]`` in pyproject.toml, overridable from the command line."""

    paths: tuple[str, ...] = ("flows",)
    project: str = ""  # the key of ecrRepositoryUrls; default: the project's name
    main_branch: str = "main"
    schedule: str = "0 6 * * *"  # the daily smoke run of main's deployments
    timezone: str = "UTC"
    #: the ECS infrastructure role of task volumes (default: the stack output ecsInfrastructureRoleArn)
    infrastructure_role_arn: str = ""


def load_config(project_dir: Path, **overrides: Any) -> FlowsConfig:
    raw: dict[str, Any] = {}
    name = ""
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        try:
            doc = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("pyproject.toml", f"is not valid TOML: {exc}") from None
        raw = dict(doc.get("tool", {}).get("slipway", {}).get("flows", {}) or {})
        name = str(doc.get("project", {}).get("name") or doc.get("tool", {}).get("poetry", {}).get("name") or "")
    known = set(FlowsConfig.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ValidationError("tool.slipway.flows", f"has unknown keys {sorted(unknown)}", allowed=sorted(known))
    raw.update({k: v for k, v in overrides.items() if v not in (None, "", ())})
    if isinstance(raw.get("paths"), str):
        raw["paths"] = (raw["paths"],)
    raw["paths"] = tuple(raw.get("paths", FlowsConfig.paths))
    raw.setdefault("project", name)
    cfg = FlowsConfig(**raw)
    check_cron(cfg.schedule, "tool.slipway.flows.schedule")
    _check_timezone(cfg.timezone)
    return cfg


def _check_timezone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("tool.slipway.flows.timezone", "is not an IANA time zone", got=tz,
                              allowed="e.g. UTC, Europe/Paris, America/New_York") from None


# ----------------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class Declared:
    workflow: Workflow
    flow_name: str
    entrypoint: str  # path/relative/to/project.py:function
    source: str


def _files(project_dir: Path, paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = (project_dir / p).resolve()
        if not path.is_relative_to(project_dir.resolve()):
            raise ValidationError("tool.slipway.flows.paths", "must stay inside the project", got=p)
        if path.is_file() and path.suffix == ".py":
            out.append(path)
        elif path.is_dir():
            out.extend(f for f in sorted(path.rglob("*.py")) if not SKIP & set(f.relative_to(path).parts))
        else:
            raise ValidationError("tool.slipway.flows.paths", "is neither a .py file nor a folder", got=p)
    return sorted(set(out))


@contextmanager
def _importable(project_dir: Path) -> Iterator[None]:
    root = str(project_dir.resolve())
    sys.path.insert(0, root)
    try:
        yield
    finally:
        if root in sys.path:
            sys.path.remove(root)


def discover(project_dir: Path, paths: Sequence[str]) -> list[Declared]:
    """Import every flow file (freshly: a rerun sees the files as they are now) and bind workflows."""
    from prefect import Flow

    project_dir = project_dir.resolve()
    found: list[Declared] = []
    with _importable(project_dir):
        for path in _files(project_dir, paths):
            rel = path.relative_to(project_dir).as_posix()
            modname = rel.removesuffix(".py").replace("/", ".")
            REGISTRY.pop(modname, None)
            sys.modules.pop(modname, None)
            spec = importlib.util.spec_from_file_location(modname, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            try:
                spec.loader.exec_module(module)
            except ValidationError as exc:
                raise ValidationError(exc.field, f"{exc.problem} (declared in {rel})", allowed=exc.allowed,
                                      got=exc.got) from None
            except Exception as exc:
                raise ValidationError("flows", f"{rel} cannot be imported: {type(exc).__name__}: {exc}") from None
            workflows = REGISTRY.get(modname, [])
            flows = [v for v in vars(module).values() if isinstance(v, Flow)]
            for wf in workflows:
                flow: Any = wf.flow
                if flow is None:
                    if len(flows) != 1:
                        raise ValidationError("workflow.flow", f"{rel} has {len(flows)} flows: pass "
                                              "Workflow(flow=...) or use @Workflow(...) above the @flow",
                                              allowed=[f.name for f in flows])
                    flow = flows[0]
                if not isinstance(flow, Flow):
                    raise ValidationError("workflow.flow", f"is not a Prefect @flow (in {rel})", got=flow)
                fn, name = str(flow.fn.__name__), str(flow.name)
                if getattr(module, fn, None) is not flow:
                    raise ValidationError("workflow.flow", f"{fn} must be a module-level @flow of {rel}", got=fn)
                found.append(Declared(wf, name, f"{rel}:{fn}", rel))
    return found


# ----------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class DeploymentSpec:
    flow_name: str
    name: str
    work_pool_name: str
    entrypoint: str
    image: str  # an image URI, or "-" for local runs
    tags: tuple[str, ...]
    version: str
    parameters: dict[str, Any]
    job_variables: dict[str, Any]
    schedules: tuple[tuple[str, str], ...]  # (cron, timezone)
    pull_steps: tuple[dict[str, Any], ...]
    description: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


@dataclass(frozen=True)
class Images:
    """variant -> image tag (``<variant>-<hash>``), and the repository URL they live in."""

    repository_url: str
    tags: Mapping[str, str] = field(default_factory=dict)


def variant_tags(project_dir: Path, variants: Sequence[str], salt: str = "") -> dict[str, str]:
    """The current tag of each variant (its lock hash), as the CI image step computes it."""
    from slipway.variants.service import compute

    if not variants:
        return {}
    return {r.variant.name: tag_for(r.variant.name, salted(r.hash, salt))
            for r in compute(project_dir, variants=sorted(set(variants)))}


def check_variants(project_dir: Path, declared: Sequence[Declared]) -> list[str]:
    """The variants the ECS workflows need; each must be declared by the project."""
    needed = {d.workflow.machine.variant: d for d in declared if isinstance(d.workflow.machine, AwsEcsMachine)
              and d.workflow.machine.variant}
    if not needed:
        return []
    from slipway.variants.project import Project

    known = Project(project_dir, check_lock=False).variants()
    for variant, d in sorted(needed.items()):
        if variant not in known:
            raise ValidationError("machine.image", f"names a variant the project does not declare "
                                  f"(in {d.source})", got=f"AwsEcsImage.{variant}", allowed=sorted(known))
    return sorted(str(v) for v in needed)


def exp_requirements(project_dir: Path) -> list[str]:
    if not (project_dir / "pyproject.toml").is_file():
        return []
    from slipway.variants.project import Project

    return Project(project_dir, check_lock=False).exp_requirements()


def plan(declared: Sequence[Declared], *, ctx: GitContext, cfg: FlowsConfig, outputs: Mapping[str, Any],
         images: Images | None, exp: Sequence[str], project_dir: Path) -> list[DeploymentSpec]:
    on_main = ctx.branch == cfg.main_branch
    if on_main and exp:
        raise ValidationError("exp", f"the exp group must be empty on {cfg.main_branch!r} (it has "
                              f"{', '.join(exp)}): move these into a real group or drop them")
    pools = dict(outputs.get("prefectWorkPools") or {})
    specs: list[DeploymentSpec] = []
    seen: dict[str, str] = {}
    for d in declared:
        wf, m = d.workflow, d.workflow.machine
        kind = m.pool_kind
        pool = (m.pool if isinstance(m, LocalMachine) else None) or pools.get(kind)
        if not pool:
            raise ValidationError("outputs.prefectWorkPools", f"has no {kind} pool for {d.flow_name} "
                                  f"(in {d.source}; is slipway:prefectApiUrl set on the stack?)",
                                  allowed=sorted(pools))
        tags = {*wf.tags, f"repo:{ctx.repo}", f"branch:{ctx.branch}", f"commit:{ctx.short}"}
        if isinstance(m, AwsEcsMachine):
            if images is None or m.variant not in images.tags:
                raise ValidationError("machine.image", f"has no image for {d.flow_name} (in {d.source})",
                                      got=f"AwsEcsImage.{m.variant}")
            image = f"{images.repository_url}:{images.tags[m.variant]}"
            role = cfg.infrastructure_role_arn or outputs.get("ecsInfrastructureRoleArn")
            job_variables = m.job_variables(image, infrastructure_role_arn=role)
            tags |= {f"variant:{m.variant}", m.pool_kind}
            pull = {"directory": IMAGE_PROJECT_DIR}
        else:
            image = "-"
            job_variables = m.job_variables()
            tags |= {"local", "cpu"}
            pull = {"directory": str(project_dir.resolve())}
        if on_main:
            name = wf.name or d.flow_name
        else:
            # named after the branch (and the workflow's own name, when it has one: one flow, two pools)
            name = f"{wf.name}-{slug(ctx.branch)}" if wf.name else slug(ctx.branch)
            if name == (wf.name or d.flow_name):  # a branch called like the flow never replaces main's
                name = f"dev-{name}"
            tags.add("dev")
            if exp:
                job_variables["env"] = {**job_variables.get("env", {}), "SLIPWAY_EXP": " ".join(exp)}
                if isinstance(m, LocalMachine):
                    # a process worker runs no image: the same entry point installs the group first
                    job_variables["command"] = f"/bin/sh {shlex.quote(str(LOCAL_ENTRYPOINT))} python -m prefect.engine"
        schedule = cfg.schedule if wf.schedule == DAILY else wf.schedule
        schedules = ((schedule, cfg.timezone),) if schedule and (on_main or wf.branch_schedule) else ()
        spec = DeploymentSpec(
            flow_name=d.flow_name, name=name, work_pool_name=pool, entrypoint=d.entrypoint, image=image,
            tags=tuple(sorted(tags)), version=ctx.commit, parameters=dict(wf.parameters),
            job_variables=job_variables, schedules=schedules,
            pull_steps=({"prefect.deployments.steps.set_working_directory": pull},),
            description=wf.description)
        if spec.full_name in seen:
            raise ValidationError("workflow.name", f"two workflows deploy as {spec.full_name} ({seen[spec.full_name]}"
                                  f" and {d.source}): give one a name=", got=spec.full_name)
        seen[spec.full_name] = d.source
        specs.append(spec)
    return specs


# ----------------------------------------------------------------------------------- applying
@dataclass(frozen=True)
class Row:
    flow: str
    deployment: str
    work_pool: str
    image: str
    action: str
    deployment_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"flow": self.flow, "deployment": self.deployment, "work_pool": self.work_pool, "image": self.image,
                "action": self.action, "deployment_id": self.deployment_id}


def _live(dep: Any) -> dict[str, Any]:
    return {
        "work_pool_name": dep.work_pool_name, "entrypoint": dep.entrypoint, "tags": sorted(dep.tags or []),
        "version": dep.version, "parameters": dict(dep.parameters or {}),
        "job_variables": dict(dep.job_variables or {}),
        "schedules": sorted((s.schedule.cron, s.schedule.timezone) for s in dep.schedules or []
                            if getattr(s.schedule, "cron", None) and s.active),
        "pull_steps": list(dep.pull_steps or []), "description": dep.description or None,
    }


def _wanted(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "work_pool_name": spec.work_pool_name, "entrypoint": spec.entrypoint, "tags": sorted(spec.tags),
        "version": spec.version, "parameters": spec.parameters, "job_variables": spec.job_variables,
        "schedules": sorted(spec.schedules), "pull_steps": list(spec.pull_steps), "description": spec.description or None,
    }


def check_pools(client: Any, specs: Sequence[DeploymentSpec]) -> None:
    """Each target pool exists and declares every job variable its deployments set (a variable the
    pool's template lacks would be accepted by Prefect and silently ignored by the worker)."""
    from prefect.exceptions import ObjectNotFound

    for pool in sorted({s.work_pool_name for s in specs}):
        try:
            wp = client.read_work_pool(pool)
        except ObjectNotFound:
            raise ValidationError("work_pool", "does not exist on the Prefect server (run `pulumi up`, or "
                                  "create it with the stack's templates)", got=pool) from None
        declared = set((wp.base_job_template or {}).get("variables", {}).get("properties", {}))
        for s in specs:
            if s.work_pool_name != pool:
                continue
            missing = sorted(set(s.job_variables) - declared)
            if missing:
                hint = " (task storage: slipway.flow.ecs_template.with_task_volume)" if \
                    set(missing) & set(VOLUME_VARIABLES) else ""
                raise ValidationError("work_pool", f"{pool}'s base job template has no variable(s) "
                                      f"{', '.join(missing)} that {s.full_name} sets{hint}", got=pool)


def apply(client: Any, specs: Sequence[DeploymentSpec], log: Callable[[str], None] = lambda _m: None) -> list[Row]:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.exceptions import ObjectNotFound

    check_pools(client, specs)
    rows: list[Row] = []
    for s in specs:
        try:
            existing = client.read_deployment_by_name(s.full_name)
        except ObjectNotFound:
            existing = None
        changed = sorted(k for k, v in _wanted(s).items() if existing is None or _live(existing)[k] != v)
        if existing is not None and not changed:
            rows.append(Row(s.flow_name, s.name, s.work_pool_name, s.image, "unchanged", str(existing.id)))
            log(f"{s.full_name}: unchanged")
            continue
        flow_id = client.create_flow_from_name(s.flow_name)
        # POST /deployments/ upserts by (flow, name): the same call creates and updates
        dep_id = client.create_deployment(
            flow_id=flow_id, name=s.name, version=s.version, work_pool_name=s.work_pool_name,
            entrypoint=s.entrypoint, tags=list(s.tags), parameters=s.parameters, job_variables=s.job_variables,
            pull_steps=list(s.pull_steps), description=s.description or "", enforce_parameter_schema=False,
            schedules=[DeploymentScheduleCreate(schedule=CronSchedule(cron=c, timezone=tz), active=True)
                       for c, tz in s.schedules])
        action = "created" if existing is None else "updated"
        log(f"{s.full_name}: {action}" + (f" ({', '.join(changed)})" if existing is not None else ""))
        rows.append(Row(s.flow_name, s.name, s.work_pool_name, s.image, action, str(dep_id)))
    return rows


@contextmanager
def prefect_client(api_url: str, api_key: str | None = None) -> Iterator[Any]:
    """Prefect's own (sync) client for one server; the key goes in Prefect's settings, never in output."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings

    if not api_url.startswith(("http://", "https://")):
        raise ValidationError("api_url", "must be the Prefect API URL (http(s)://.../api)", got=api_url)
    values: dict[Any, Any] = {PREFECT_API_URL: api_url.rstrip("/")}
    if api_key:
        values[PREFECT_API_KEY] = api_key
    with temporary_settings(values), get_client(sync_client=True) as client:
        yield client


def table(rows: Sequence[Row]) -> str:
    head = ("flow", "deployment", "work pool", "image", "action")
    data = [(r.flow, r.deployment, r.work_pool, r.image, r.action) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *data, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*head), line.format(*("-" * w for w in widths)), *(line.format(*d) for d in data)])


# ----------------------------------------------------------------------------------- the use case
@dataclass(frozen=True)
class DeployRequest:
    project_dir: Path
    api_url: str
    outputs: Mapping[str, Any]
    ctx: GitContext
    cfg: FlowsConfig
    api_key: str | None = None
    salt: str = ""
    #: builds and pushes missing variant images (the CI image step); None: trust the computed tags
    ensure_images: Callable[[list[str]], Mapping[str, str]] | None = None


def deploy(req: DeployRequest, log: Callable[[str], None] = lambda _m: None) -> list[Row]:
    """discover -> validate -> images -> plan -> apply. Nothing is written before validation passed."""
    project_dir = req.project_dir.resolve()
    declared = discover(project_dir, req.cfg.paths)
    if not declared:
        raise ValidationError("tool.slipway.flows.paths", "hold no Workflow declarations", got=list(req.cfg.paths))
    log(f"found {len(declared)} workflow(s) in {', '.join(sorted({d.source for d in declared}))}")
    variants = check_variants(project_dir, declared)
    exp = exp_requirements(project_dir)
    images: Images | None = None
    if variants:
        repos = dict(req.outputs.get("ecrRepositoryUrls") or {})
        if req.cfg.project not in repos:
            raise ValidationError("tool.slipway.flows.project", "has no ECR repository in the stack outputs",
                                  got=req.cfg.project, allowed=sorted(repos))
        tags = variant_tags(project_dir, variants, req.salt)
        # a dry plan first: every declaration, pool and image name is checked before an image is built
        plan(declared, ctx=req.ctx, cfg=req.cfg, outputs=req.outputs, images=Images(repos[req.cfg.project], tags),
             exp=exp, project_dir=project_dir)
        if req.ensure_images is not None:
            tags = {**tags, **req.ensure_images(variants)}
        images = Images(repos[req.cfg.project], tags)
    specs = plan(declared, ctx=req.ctx, cfg=req.cfg, outputs=req.outputs, images=images, exp=exp,
                 project_dir=project_dir)
    with prefect_client(req.api_url, req.api_key) as client:
        try:
            return apply(client, specs, log)
        except SlipwayError:
            raise
        except Exception as exc:  # httpx errors carry the URL only, never the key
            name = type(exc).__name__
            raise SlipwayError(f"Prefect API at {req.api_url} failed: {name}: {str(exc)[:500]}") from None


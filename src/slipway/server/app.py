"""The ASGI app of ``slipway server``: the core's use cases as a JSON API under ``/api/v1``.

Every route declares the one permission it needs with ``actor: Actor = Depends(needs(PERMISSION))``; a
test walks every route of the app and fails if one declares none. Errors are JSON with the CLI's words::

    {"error": {"type": "ValidationError", "message": "...", "field": "gpus", "allowed": "...", "got": "x"}}
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from slipway.auth import tokens as auth_tokens
from slipway.auth.errors import Unauthenticated
from slipway.auth.identity import Authenticator
from slipway.auth.oidc import OidcValidator
from slipway.auth.roles import (
    AUTHENTICATED,
    EVENTS_READ,
    FLEET_READ,
    PUBLIC,
    TAILNET_ADMIN,
    TOKENS_ADMIN,
    UNDERTAKER_READ,
    VESSELS_LAUNCH,
    VESSELS_MANAGE,
    VESSELS_READ,
    require,
)
from slipway.errors import NotFound, PermissionDenied, PlacementError, SlipwayError, ValidationError
from slipway.identity import Actor, local_actor
from slipway.ledger import Ledger
from slipway.server import ops
from slipway.server.config import ServerConfig
from slipway.server.tailnet import PolicySync
from slipway.vessels import VesselService

log = logging.getLogger("slipway.server")
API = "/api/v1"
WEBHOOK_SIGNATURE = "webhook-signature"  # the permission the mounted commit-run webhook's routes declare
STATUS = {ValidationError: 422, PlacementError: 409, PermissionDenied: 403, NotFound: 404, Unauthenticated: 401}


def needs(permission: str, *, cookie: bool = False, name: str = "needs") -> Callable[[Request], Actor]:
    """The dependency a route declares: authenticates the caller and checks ``permission``.

    ``cookie``: a browser's session cookie counts as credentials (the web pages)."""

    def dependency(request: Request) -> Actor:
        actor = authenticate(request, cookie=True) if cookie else authenticate(request)
        require(actor, permission)
        request.state.actor = actor
        return actor

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"{name}_{permission.replace(':', '_')}"
    return dependency


# What each route's ``actor`` parameter is: the permission it declares.
Anyone = Annotated[Actor, Depends(needs(AUTHENTICATED))]
FleetReader = Annotated[Actor, Depends(needs(FLEET_READ))]
Launcher = Annotated[Actor, Depends(needs(VESSELS_LAUNCH))]
VesselReader = Annotated[Actor, Depends(needs(VESSELS_READ))]
Manager = Annotated[Actor, Depends(needs(VESSELS_MANAGE))]
EventReader = Annotated[Actor, Depends(needs(EVENTS_READ))]
UndertakerReader = Annotated[Actor, Depends(needs(UNDERTAKER_READ))]
TokenAdmin = Annotated[Actor, Depends(needs(TOKENS_ADMIN))]
TailnetAdmin = Annotated[Actor, Depends(needs(TAILNET_ADMIN))]
JsonBody = Annotated[dict[str, Any], Body()]
OptionalBody = Annotated[dict[str, Any] | None, Body()]


def authenticate(request: Request, *, cookie: bool = False) -> Actor:
    """The caller: a bearer token (API and pages), the session cookie (pages only: the API never reads
    cookies, so a cross-site request cannot act with them), or the local user in single-user mode."""
    cfg: ServerConfig = request.app.state.config
    auth: Authenticator = request.app.state.auth
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    bearer = bearer.strip()
    if header and scheme.lower() != "bearer":
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    if not bearer and cookie and cfg.team_mode:
        bearer = request.cookies.get("slipway_session") or ""
    if bearer:
        return auth.actor(bearer)
    if cfg.team_mode:
        raise Unauthenticated("no credentials: log in first (slipway login --server URL)")
    actor = local_actor(cfg.admins)
    return Actor(name=actor.name, admin=actor.admin, via="local",
                 roles=("admin",) if actor.admin else ("researcher",))


def error_body(exc: Exception) -> dict[str, Any]:
    err: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ValidationError):
        err.update(field=exc.field, problem=exc.problem, allowed=exc.allowed,
                   got=exc.got if isinstance(exc.got, str | int | float | bool | type(None)) else repr(exc.got))
    if isinstance(exc, PlacementError):
        err.update(summary=exc.summary, reasons=exc.reasons)
    return {"error": err}


def create_app(config: ServerConfig, *, service: VesselService | None = None,
               validator: OidcValidator | None = None, webhook: Any = None) -> FastAPI:
    """The app for ``config``; ``service`` (tests) replaces the one built from the config; ``webhook`` (or
    ``server.webhook: true``, configured from the environment as the Lambda is) is the commit-run webhook."""
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if sync is not None:
            sync.close()
        if service is None:
            svc.close()
            svc.ledger.close()

    app = FastAPI(title="Slipway", version="1", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    svc = service or VesselService(config.settings, ledger=Ledger(config.settings.ledger_url))
    if validator is None and config.oidc is not None:
        validator = OidcValidator(config.oidc)
    judge = ops.undertaker_judge(config.prometheus_url, config.undertaker) if config.prometheus_url else None
    reads = ops.Reads(judge=judge)
    app.state.reads = reads
    sync: PolicySync | None = None
    if config.tailnet is not None and config.settings.tailscale is not None:
        sync = PolicySync(svc.ledger, config.settings.tailscale, config.tailnet)
    app.state.tailnet = sync

    def owners_changed() -> None:
        reads.invalidate()
        if sync is not None:
            sync.poke()
    app.state.config = config
    app.state.svc = svc
    app.state.auth = Authenticator(store=_store(svc), oidc=validator, mapping=config.roles)

    @app.exception_handler(SlipwayError)
    async def slipway_error(request: Request, exc: SlipwayError) -> JSONResponse:
        code = next((c for t, c in STATUS.items() if isinstance(exc, t)), 500)
        render_error = getattr(request.app.state, "render_error", None)
        if render_error is not None and not request.url.path.startswith(("/api/", "/healthz")) \
                and not request.url.path.endswith(".json"):
            page: JSONResponse = render_error(request, exc, code)
            return page
        headers = {"WWW-Authenticate": 'Bearer realm="slipway"'} if code == 401 else None
        if code >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(error_body(exc), status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        err = ValidationError(".".join(loc) or "request", str(first.get("msg", "invalid")),
                              allowed=str(first.get("type", "")) or None, got=first.get("input"))
        return JSONResponse(error_body(err), status_code=422)

    # ------------------------------------------------------------------ public
    @app.get("/healthz", openapi_extra={"x-permission": PUBLIC})
    def healthz() -> dict[str, Any]:
        return {"ok": True, "mode": "team" if config.team_mode else "single-user"}

    @app.get(f"{API}/openapi.json", openapi_extra={"x-permission": PUBLIC})
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get(f"{API}/auth/config", openapi_extra={"x-permission": PUBLIC})
    def auth_config() -> dict[str, Any]:
        """What ``slipway login`` needs (all public)."""
        if config.oidc is None:
            return {"mode": "single-user"}
        return {"mode": "team", "issuer": config.oidc.issuer, "client_id": config.oidc.client_id,
                "scopes": list(config.oidc.scopes)}

    # ------------------------------------------------------------------ identity
    @app.get(f"{API}/whoami", openapi_extra={"x-permission": AUTHENTICATED})
    def whoami(actor: Anyone) -> dict[str, Any]:
        return {"name": actor.name, "admin": actor.admin, "roles": list(actor.roles), "subject": actor.subject,
                "email": actor.email, "via": actor.via}

    # ------------------------------------------------------------------ vessels
    @app.get(f"{API}/vessels", openapi_extra={"x-permission": FLEET_READ})
    def list_vessels(actor: FleetReader, all: bool = False, owner: str | None = None,
                     host: str | None = None) -> Response:
        return fast(ops.vessels(svc, actor, show_all=all, owner=owner, host=host, reads=reads))

    @app.post(f"{API}/vessels", openapi_extra={"x-permission": VESSELS_LAUNCH})
    def launch(body: JsonBody, actor: Launcher) -> dict[str, Any]:
        """Launch a vessel for the caller; ``{"check": true}`` answers the placement and reserves nothing."""
        out = ops.launch(svc, actor, body)
        if not out["check"]:
            owners_changed()
        return out

    @app.get(f"{API}/vessels/{{name}}", openapi_extra={"x-permission": VESSELS_READ})
    def status(name: str, actor: VesselReader) -> dict[str, Any]:
        return ops.details(svc, actor, name)

    @app.post(f"{API}/vessels/{{name}}/stop", openapi_extra={"x-permission": VESSELS_MANAGE})
    def stop(name: str, actor: Manager, body: OptionalBody = None) -> dict[str, Any]:
        b = body or {}
        out = ops.stop(svc, actor, name, check=bool(b.get("check", False)), reason=b.get("reason"))
        if out["changed"] and not out["check"]:
            owners_changed()
        return out

    @app.post(f"{API}/vessels/{{name}}/keep", openapi_extra={"x-permission": VESSELS_MANAGE})
    def keep(name: str, body: JsonBody,
             actor: Manager) -> dict[str, Any]:
        hours = body.get("hours")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int | float)):
            raise ValidationError("hours", "must be a number", got=hours, allowed="e.g. 24")
        until = _time(body.get("until"), "until")
        out = ops.keep(svc, actor, name, hours=hours, until=until, clear=bool(body.get("clear", False)),
                       check=bool(body.get("check", False)))
        reads.invalidate()
        return out

    # ------------------------------------------------------------------ fleet, events, undertaker
    @app.get(f"{API}/hosts", openapi_extra={"x-permission": FLEET_READ})
    def hosts(actor: FleetReader) -> Response:
        return fast(ops.hosts(svc, reads))

    @app.get(f"{API}/events", openapi_extra={"x-permission": EVENTS_READ})
    def events(actor: EventReader, vessel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if not 1 <= limit <= 10_000:
            raise ValidationError("limit", "out of range", got=limit, allowed="1..10000")
        return ops.events(svc, vessel=vessel, limit=limit)

    @app.get(f"{API}/undertaker", openapi_extra={"x-permission": UNDERTAKER_READ})
    def undertaker(actor: UndertakerReader) -> dict[str, Any]:
        return ops.undertaker_state(svc)

    # ------------------------------------------------------------------ automation tokens
    @app.get(f"{API}/tokens", openapi_extra={"x-permission": TOKENS_ADMIN})
    def list_tokens(actor: TokenAdmin, all: bool = False) -> list[dict[str, Any]]:
        return [t.as_dict() for t in _store(svc).tokens(include_revoked=all)]

    @app.post(f"{API}/tokens", openapi_extra={"x-permission": TOKENS_ADMIN}, status_code=201)
    def create_token(body: JsonBody,
                     actor: TokenAdmin) -> dict[str, Any]:
        """The new token's secret is in this one response, and nowhere else ever."""
        new = auth_tokens.create_token(_store(svc), name=body.get("name"),
                                       roles=body.get("roles", ()), actor=actor, days=body.get("days"),
                                       expires_at=_time(body.get("expires_at"), "expires_at"))
        return new.as_dict()

    @app.delete(f"{API}/tokens/{{token_id}}", openapi_extra={"x-permission": TOKENS_ADMIN})
    def revoke_token(token_id: str, actor: TokenAdmin) -> dict[str, Any]:
        return auth_tokens.revoke_token(_store(svc), token_id, actor=actor).as_dict()

    @app.post(f"{API}/tailnet/policy", openapi_extra={"x-permission": TAILNET_ADMIN})
    def tailnet_policy(actor: TailnetAdmin, body: OptionalBody = None) -> dict[str, Any]:
        """Apply the tailnet policy now (``{"check": true}``: the diff only)."""
        if sync is None:
            raise ValidationError("server.tailnet", "is not configured (or no Tailscale API key)",
                                  allowed="server.tailnet: {email_domain, admins} and slipway_tailscale_api_key")
        res = sync.sync(check=bool((body or {}).get("check", False)))
        return {"changed": res.changed, "applied": res.applied, "diff": res.diff}

    from slipway.web.pages import mount

    mount(app, config, svc, validator)
    if webhook is None and config.webhook:
        from slipway.runs.webhook import app_from_env

        webhook = app_from_env()
    if webhook is not None:  # its routes check the push's own signature / hook UUID, not an OIDC identity
        for route in webhook.routes:
            route.permission = WEBHOOK_SIGNATURE
            app.router.routes.append(route)
    return app


def fast(content: Any) -> Response:
    """JSON without FastAPI's per-field encoding and validation (the big lists: 1,000 vessels)."""
    return Response(json.dumps(content, default=str, separators=(",", ":")), media_type="application/json")


def _store(svc: VesselService) -> auth_tokens.TokenStore:
    return svc.ledger


def _time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, "not an ISO 8601 time", got=value, allowed="e.g. 2027-01-01T18:00:00Z") from None
    if dt.tzinfo is None:
        raise ValidationError(field, "needs a time zone", got=value, allowed="e.g. 2027-01-01T18:00:00Z")
    return dt

"""The pages' routes. Each declares its permission exactly like an API route (``actor: FleetReader`` ...)."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime
from typing import Annotated, Any

import requests
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from slipway.auth.errors import Unauthenticated
from slipway.auth.oidc import OidcValidator
from slipway.auth.roles import (
    FLEET_READ,
    PUBLIC,
    UNDERTAKER_READ,
    VESSELS_LAUNCH,
    VESSELS_MANAGE,
    VESSELS_READ,
    may,
)
from slipway.errors import PermissionDenied, SlipwayError, ValidationError
from slipway.identity import Actor, may_manage
from slipway.server import ops
from slipway.server.client import _token_request
from slipway.server.config import ServerConfig
from slipway.vessels import VesselService
from slipway.web.session import LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE, Signer, pkce, safe_next

RANGES = {"24h": (24 * 3600, 300), "7d": (7 * 24 * 3600, 1800)}  # window, step (seconds)
GPU_METRICS = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED")


def page_needs(permission: str) -> Any:
    """:func:`slipway.server.app.needs` with a browser's session cookie as credentials."""
    from slipway.server.app import needs

    return needs(permission, cookie=True, name="page_needs")


PageFleet = Annotated[Actor, Depends(page_needs(FLEET_READ))]
PageVessel = Annotated[Actor, Depends(page_needs(VESSELS_READ))]
PageLaunch = Annotated[Actor, Depends(page_needs(VESSELS_LAUNCH))]
PageManage = Annotated[Actor, Depends(page_needs(VESSELS_MANAGE))]
PageUndertaker = Annotated[Actor, Depends(page_needs(UNDERTAKER_READ))]
F = Annotated[str | None, Form()]


def _when(value: Any) -> str:
    if not value:
        return "—"
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    utc = dt.astimezone(UTC)
    return f'<time datetime="{utc.isoformat()}">{utc:%Y-%m-%d %H:%M} UTC</time>'


def _mib(v: Any) -> str:
    n = int(v or 0)
    return f"{n // 1024} GiB" if n % 1024 == 0 else f"{n / 1024:.1f} GiB"


def vessel_rows_html(vessels: list[dict[str, Any]], me: str | None) -> str:
    """The Vessels table's rows, built directly: Jinja's per-cell lookups cost ~45 ms for 1,000 rows."""
    if not vessels:
        return '<tr><td colspan="9">No vessels.</td></tr>'
    out = []
    for v in vessels:
        n = escape(v["name"])
        idle = v.get("idle_work_h")
        act = v.get("undertaker")
        verdict = "—" if act is None else (f'<span title="{escape(v.get("reason") or "")}">{escape(act)}</span>'
                                           + (f" {_when(v['bury_at'])}" if v.get("bury_at") else ""))
        out.append(f'<tr data-vessel="{n}" class="{"mine" if v["owner"] == me else ""}"><td><a href="/vessels/{n}">'
                   f'{n}</a></td><td>{escape(v["owner"])}</td><td>{escape(v["host"])}</td><td>{v["gpus"]}</td>'
                   f'<td>{escape(v["state"])}</td><td>{escape(v["age"])}</td>'
                   f'<td class="idle">{"—" if idle is None else idle}</td><td class="undertaker">{verdict}</td>'
                   f'<td>{_when(v["keep_until"])}</td></tr>')
    return "\n".join(out)


def work_spans(config: ServerConfig, start: float, end: float) -> list[list[float]]:
    """The undertaker calendar's work hours in [start, end), merged into [from, to] epoch spans (shaded)."""
    spans: list[list[float]] = []
    a, b = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    for h in config.calendar.work_hours(a, b):
        t = h.timestamp()
        if spans and spans[-1][1] == t:
            spans[-1][1] = t + 3600
        else:
            spans.append([t, t + 3600])
    return spans


def mount(app: FastAPI, config: ServerConfig, svc: VesselService, validator: OidcValidator | None) -> None:
    env = Environment(loader=PackageLoader("slipway.web", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["when"] = _when
    env.filters["mib"] = _mib
    signer = Signer(config.session_secret)
    reads: ops.Reads = app.state.reads

    def owners_changed() -> None:
        reads.invalidate()
        if app.state.tailnet is not None:
            app.state.tailnet.poke()
    app.state.session_token = lambda request: request.cookies.get(SESSION_COOKIE)

    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        actor: Actor | None = getattr(request.state, "actor", None)
        session = request.cookies.get(SESSION_COOKIE)
        html = env.get_template(name).render(
            actor=actor, csrf=signer.csrf(session), team=config.team_mode, path=request.url.path,
            can=lambda p: actor is not None and may(actor, p), may_manage=lambda owner: actor is not None
            and may_manage(actor, owner), **ctx)
        return HTMLResponse(html, status_code=status)

    def check_csrf(request: Request, token: str | None) -> None:
        if not signer.check_csrf(request.cookies.get(SESSION_COOKIE), token):
            raise PermissionDenied("the form's CSRF token is missing or not this session's: reload the page")

    def render_error(request: Request, exc: SlipwayError, code: int) -> Response:
        if isinstance(exc, Unauthenticated) and config.team_mode:
            nxt = urllib.parse.quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            return RedirectResponse(f"/login?next={nxt}", status_code=303)
        return render(request, "error.html", status=code, error=exc, code=code)

    app.state.render_error = render_error

    def base_url(request: Request) -> str:
        return (config.public_url or str(request.base_url)).rstrip("/")

    # ------------------------------------------------------------------ login (public)
    @app.get("/login", include_in_schema=False, openapi_extra={"x-permission": PUBLIC})
    def login(request: Request, next: str | None = None) -> Response:
        target = safe_next(next)
        if config.oidc is None or validator is None:
            return RedirectResponse(target, status_code=303)
        meta = validator.metadata()
        verifier, challenge = pkce()
        state = signer.sign({"t": time.time(), "n": target, "v": verifier})
        q = {"response_type": "code", "client_id": config.oidc.client_id, "scope": " ".join(config.oidc.scopes),
             "redirect_uri": f"{base_url(request)}/auth/callback", "state": state[-32:],
             "code_challenge": challenge, "code_challenge_method": "S256"}
        resp = RedirectResponse(f"{meta['authorization_endpoint']}?{urllib.parse.urlencode(q)}", status_code=303)
        resp.set_cookie(LOGIN_COOKIE, state, max_age=LOGIN_SECONDS, httponly=True, samesite="lax",
                        secure=base_url(request).startswith("https://"), path="/auth")
        return resp

    @app.get("/auth/callback", include_in_schema=False, openapi_extra={"x-permission": PUBLIC})
    def callback(request: Request, code: str = "", state: str = "", error: str | None = None) -> Response:
        if config.oidc is None or validator is None:
            return RedirectResponse("/", status_code=303)
        cookie = request.cookies.get(LOGIN_COOKIE)
        data = signer.unsign(cookie, LOGIN_SECONDS)
        if data is None or not cookie or cookie[-32:] != state:
            raise Unauthenticated("the login answer does not belong to this browser's login: log in again")
        if error:
            raise Unauthenticated(f"the provider refused the login: {error}")
        tokens = _token_request(str(validator.metadata()["token_endpoint"]), config.oidc.client_id,
                                config.oidc.client_secret, {"grant_type": "authorization_code", "code": code,
                                                            "redirect_uri": f"{base_url(request)}/auth/callback",
                                                            "code_verifier": str(data["v"])})
        idt = str(tokens.get("id_token") or "")
        claims = validator.validate(idt)
        resp = RedirectResponse(safe_next(str(data.get("n"))), status_code=303)
        resp.set_cookie(SESSION_COOKIE, idt, max_age=max(60, int(claims["exp"] - time.time())), httponly=True,
                        samesite="lax", secure=base_url(request).startswith("https://"))
        resp.delete_cookie(LOGIN_COOKIE, path="/auth")
        return resp

    @app.get("/logout", include_in_schema=False, openapi_extra={"x-permission": PUBLIC})
    def logout() -> Response:
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # ------------------------------------------------------------------ reading
    @app.get("/", include_in_schema=False, openapi_extra={"x-permission": FLEET_READ})
    def index(request: Request, actor: PageFleet) -> HTMLResponse:
        hosts = ops.hosts(svc, reads)
        vessels = ops.vessels(svc, actor, reads=reads)
        gpus = [g for h in hosts for g in h["gpus"]]
        return render(request, "index.html", hosts=hosts, vessels=vessels, gpus_total=len(gpus),
                      gpus_free=sum(1 for g in gpus if not g["vessel"]),
                      mine=[v for v in vessels if v["owner"] == actor.name])

    @app.get("/fleet", include_in_schema=False, openapi_extra={"x-permission": FLEET_READ})
    def fleet(request: Request, actor: PageFleet, queue: str | None = None) -> HTMLResponse:
        hosts = ops.hosts(svc, reads)
        queues = sorted({h["name"] and h["queue"] for h in hosts})
        shown = [h for h in hosts if not queue or h["queue"] == queue]
        return render(request, "fleet.html", hosts=shown, queues=queues, queue=queue or "")

    @app.get("/vessels", include_in_schema=False, openapi_extra={"x-permission": FLEET_READ})
    def vessels(request: Request, actor: PageFleet, owner: str | None = None, host: str | None = None,
                sort: str = "mine", show: str = "active") -> HTMLResponse:
        vs = ops.vessels(svc, actor, show_all=show == "all", owner=owner or None, host=host or None, reads=reads)
        keys = {"name": lambda v: v["name"], "owner": lambda v: (v["owner"], v["name"]),
                "host": lambda v: (v["host"], v["name"]), "age": lambda v: v["created_at"],
                "gpus": lambda v: -v["gpus"]}
        if sort in keys:
            vs.sort(key=keys[sort])
        return render(request, "vessels.html", rows=vessel_rows_html(vs, actor.name), owner=owner or "", host=host or "", sort=sort, show=show)

    @app.get("/vessels/{name}", include_in_schema=False, openapi_extra={"x-permission": VESSELS_READ})
    def vessel(request: Request, name: str, actor: PageVessel) -> HTMLResponse:
        v = ops.details(svc, actor, name)
        return render(request, "vessel.html", v=v, prometheus=bool(config.prometheus_url),
                      notice=request.query_params.get("done"))

    @app.get("/vessels/{name}/utilisation.json", include_in_schema=False,
             openapi_extra={"x-permission": VESSELS_READ})
    def utilisation(name: str, actor: PageVessel, range: str = "24h", end: float | None = None) -> JSONResponse:
        """Each GPU's utilisation and memory used over the window: ONE Prometheus range query."""
        if range not in RANGES:
            raise ValidationError("range", "unknown window", allowed=RANGES, got=range)
        v = ops.details(svc, actor, name)
        if not config.prometheus_url:
            raise ValidationError("server.prometheus_url", "is not configured", allowed="http://HOST:PORT")
        window, step = RANGES[range]
        t1 = float(end) if end is not None else time.time()
        t1 = t1 - t1 % step
        uuids = "|".join(v["gpu_uuids"]) or "none"
        expr = f'{{__name__=~"{"|".join(GPU_METRICS)}",UUID=~"{uuids}"}}'
        params: dict[str, str | float] = {"query": expr, "start": t1 - window, "end": t1, "step": step}
        try:
            r = requests.get(f"{config.prometheus_url.rstrip('/')}/api/v1/query_range", params=params, timeout=10)
            data = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise SlipwayError(f"Prometheus cannot be reached ({type(exc).__name__})") from None
        series = [{"metric": s["metric"].get("__name__"), "uuid": s["metric"].get("UUID"),
                   "points": [[float(t), float(x)] for t, x in s["values"]]}
                  for s in (data.get("data") or {}).get("result", [])]
        return JSONResponse({"query": expr, "start": params["start"], "end": t1, "step": step, "series": series,
                             "work_hours": work_spans(config, t1 - window, t1)})

    @app.get("/undertaker", include_in_schema=False, openapi_extra={"x-permission": UNDERTAKER_READ})
    def undertaker(request: Request, actor: PageUndertaker) -> HTMLResponse:
        return render(request, "undertaker.html", u=ops.undertaker_state(svc))

    # ------------------------------------------------------------------ acting (forms with CSRF)
    @app.get("/launch", include_in_schema=False, openapi_extra={"x-permission": VESSELS_LAUNCH})
    def launch_form(request: Request, actor: PageLaunch) -> HTMLResponse:
        queues = sorted({h.queue for h in svc.ledger.hosts()})
        return render(request, "launch.html", queues=queues, form={}, preview=None, error=None)

    @app.post("/launch", include_in_schema=False, openapi_extra={"x-permission": VESSELS_LAUNCH})
    def launch(request: Request, actor: PageLaunch, csrf: F = None, action: F = None, name: F = None,
               queue: F = None, gpus: F = None, cpus: F = None, memory: F = None, image: F = None,
               ssh_public_key: F = None) -> Response:
        check_csrf(request, csrf)
        form = {"name": name, "queue": queue, "gpus": gpus or 0, "cpus": cpus, "memory": memory, "image": image,
                "ssh_public_key": ssh_public_key or ""}
        queues = sorted({h.queue for h in svc.ledger.hosts()})
        try:
            if action != "launch":
                preview = ops.launch(svc, actor, {**form, "check": True})
                return render(request, "launch.html", queues=queues, form=form, preview=preview, error=None)
            out = ops.launch(svc, actor, form)
            owners_changed()
        except (ValidationError, SlipwayError) as exc:
            if isinstance(exc, PermissionDenied):
                raise
            return render(request, "launch.html", status=422, queues=queues, form=form, preview=None, error=exc)
        return RedirectResponse(f"/vessels/{out['vessel']['name']}?done=launched", status_code=303)

    @app.post("/vessels/{name}/stop", include_in_schema=False, openapi_extra={"x-permission": VESSELS_MANAGE})
    def stop(request: Request, name: str, actor: PageManage, csrf: F = None) -> Response:
        check_csrf(request, csrf)
        ops.stop(svc, actor, name, reason=f"stopped from the web page by {actor.name}")
        owners_changed()
        return RedirectResponse(f"/vessels/{name}?done=stopped", status_code=303)

    @app.post("/vessels/{name}/keep", include_in_schema=False, openapi_extra={"x-permission": VESSELS_MANAGE})
    def keep(request: Request, name: str, actor: PageManage, csrf: F = None, hours: F = None) -> Response:
        check_csrf(request, csrf)
        try:
            h = float(hours or "")
        except ValueError:
            raise ValidationError("hours", "must be a number", got=hours, allowed="e.g. 24") from None
        ops.keep(svc, actor, name, hours=h)
        reads.invalidate()
        return RedirectResponse(f"/vessels/{name}?done=kept", status_code=303)

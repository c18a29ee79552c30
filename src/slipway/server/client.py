"""The client side of ``slipway server``: ``slipway login`` and the calls ``slipway vessels ...`` makes.

Login is the OIDC authorization-code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252): a
one-shot HTTP listener on ``127.0.0.1:<random port>/callback`` receives the code, which is exchanged at
the provider's token endpoint. Tokens are cached in ``~/.config/slipway/tokens.json`` (mode 0600), per
server, and refreshed with the refresh token when they expire. ``SLIPWAY_TOKEN`` (e.g. an automation
token in CI) takes precedence over the cache.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import requests

from slipway.auth.errors import Unauthenticated
from slipway.errors import NotFound, PermissionDenied, PlacementError, SlipwayError, ValidationError
from slipway.network.sshconfig import SshConfig, SshEntry

EXPIRY_MARGIN = 60.0  # refresh a token this many seconds before it expires


def cache_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "slipway" / "tokens.json"


class TokenCache:
    """``{server_url: {bearer, refresh_token, expires_at, token_endpoint, client_id, ...}}``, mode 0600."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, server: str) -> dict[str, Any] | None:
        return self.load().get(_norm(server))

    def put(self, server: str, entry: dict[str, Any]) -> None:
        data = self.load()
        data[_norm(server)] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def forget(self, server: str) -> None:
        data = self.load()
        if data.pop(_norm(server), None) is not None:
            self.put_all(data)

    def put_all(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.write_text(json.dumps(data))
        os.chmod(self.path, 0o600)


def _norm(server: str) -> str:
    return server.rstrip("/")


# ---------------------------------------------------------------------------- login
def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Callback:
    """A one-shot loopback listener for the provider's redirect."""

    def __init__(self, port: int = 0) -> None:
        self.params: dict[str, str] = {}
        self.done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                u = urllib.parse.urlparse(self.path)
                if u.path != "/callback":
                    self.send_response(404)
                    self.end_headers()
                    return
                outer.params = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                body = b"<!doctype html><title>Slipway</title><p>Logged in. You can close this tab.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.done.set()

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class LoginResult:
    server: str
    name: str
    roles: tuple[str, ...]
    expires_at: float


def login(server: str, *, open_url: Callable[[str], Any] | None = None, cache: TokenCache | None = None,
          client_secret: str | None = None, timeout: float = 300.0, port: int = 0) -> LoginResult:
    """Log in to ``server`` through its OIDC provider; caches the tokens; returns who the server says we are.

    ``open_url`` shows the provider's login page (default: the web browser; tests drive the form).
    """
    server = _norm(server)
    conf = _json("GET", f"{server}/api/v1/auth/config")
    if conf.get("mode") != "team":
        raise ValidationError("server", "this server runs in single-user mode: there is nothing to log in to",
                              allowed="a server with oidc configured", got=server)
    meta = _json("GET", str(conf["issuer"]).rstrip("/") + "/.well-known/openid-configuration")
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    cb = _Callback(port)
    try:
        q = {"response_type": "code", "client_id": conf["client_id"], "redirect_uri": cb.redirect_uri,
             "scope": " ".join(conf.get("scopes") or ["openid", "email", "profile"]), "state": state,
             "code_challenge": challenge, "code_challenge_method": "S256"}
        url = f"{meta['authorization_endpoint']}?{urllib.parse.urlencode(q)}"
        if open_url is None:
            import webbrowser

            print(f"Opening {meta['authorization_endpoint']} to log in (or open this URL):\n{url}", flush=True)
            webbrowser.open(url)
        else:
            open_url(url)
        if not cb.done.wait(timeout):
            raise Unauthenticated(f"no answer from the login page within {timeout:.0f} s")
    finally:
        cb.close()
    if cb.params.get("state") != state:
        raise Unauthenticated("the login answer's state does not match (a stale or forged redirect)")
    if "error" in cb.params:
        raise Unauthenticated(f"the provider refused the login: {cb.params.get('error')}")
    tokens = _token_request(str(meta["token_endpoint"]), str(conf["client_id"]), client_secret, {
        "grant_type": "authorization_code", "code": cb.params.get("code", ""), "redirect_uri": cb.redirect_uri,
        "code_verifier": verifier})
    entry = _entry(tokens, str(meta["token_endpoint"]), str(conf["client_id"]), client_secret)
    (cache or TokenCache()).put(server, entry)
    me = Client(server, token=entry["bearer"]).whoami()
    return LoginResult(server, str(me["name"]), tuple(me.get("roles") or ()), float(entry["expires_at"]))


def _token_request(endpoint: str, client_id: str, client_secret: str | None, data: dict[str, str]) -> dict[str, Any]:
    auth = (client_id, client_secret) if client_secret else None
    body = dict(data) if auth else {**data, "client_id": client_id}
    try:
        r = requests.post(endpoint, data=body, auth=auth, timeout=30, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise Unauthenticated(f"the token endpoint cannot be reached ({type(exc).__name__})") from None
    if r.status_code != 200:
        try:
            err = r.json().get("error", "")
        except ValueError:
            err = ""
        raise Unauthenticated(f"the token endpoint answered HTTP {r.status_code} {err}".strip())
    out: dict[str, Any] = r.json()
    return out


def _is_jwt(token: str | None) -> bool:
    return bool(token) and str(token).count(".") == 2


def _entry(tokens: dict[str, Any], endpoint: str, client_id: str, client_secret: str | None,
           old: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the cache keeps. The bearer is a JWT (a JWT access token, else the ID token) when there is one."""
    access = tokens.get("access_token")
    idt = tokens.get("id_token")
    bearer = access if _is_jwt(access) else idt if _is_jwt(idt) else access
    if not bearer:
        raise Unauthenticated("the token endpoint answered no usable token")
    expires = time.time() + float(tokens.get("expires_in") or 300)
    if _is_jwt(bearer):
        with contextlib.suppress(jwt.PyJWTError):
            exp = jwt.decode(bearer, options={"verify_signature": False}).get("exp")
            if exp:
                expires = float(exp)
    entry = {"bearer": bearer, "expires_at": expires, "token_endpoint": endpoint, "client_id": client_id,
             "refresh_token": tokens.get("refresh_token") or (old or {}).get("refresh_token")}
    if client_secret:
        entry["client_secret"] = client_secret
    return entry


def bearer(server: str, *, cache: TokenCache | None = None, env: dict[str, str] | None = None,
           now: float | None = None) -> str:
    """The token to send: ``SLIPWAY_TOKEN``, else the cached one (refreshed when it is about to expire)."""
    env = dict(os.environ) if env is None else env
    if env.get("SLIPWAY_TOKEN"):
        return env["SLIPWAY_TOKEN"]
    cache = cache or TokenCache()
    entry = cache.get(server)
    if entry is None:
        raise Unauthenticated(f"not logged in to {server}: run `slipway login --server {server}`")
    now = time.time() if now is None else now
    if float(entry.get("expires_at", 0)) - EXPIRY_MARGIN > now:
        return str(entry["bearer"])
    if not entry.get("refresh_token"):
        raise Unauthenticated(f"the login to {server} expired: run `slipway login --server {server}`")
    tokens = _token_request(str(entry["token_endpoint"]), str(entry["client_id"]), entry.get("client_secret"),
                            {"grant_type": "refresh_token", "refresh_token": str(entry["refresh_token"])})
    new = _entry(tokens, str(entry["token_endpoint"]), str(entry["client_id"]), entry.get("client_secret"), entry)
    cache.put(server, new)
    return str(new["bearer"])


# ---------------------------------------------------------------------------- API calls
def _raise(r: requests.Response) -> None:
    try:
        err = r.json().get("error") or {}
    except ValueError:
        err = {}
    msg = str(err.get("message") or f"HTTP {r.status_code}")
    kind = err.get("type")
    if kind == "ValidationError" or (r.status_code == 422 and err.get("field")):
        raise ValidationError(str(err.get("field") or "request"), str(err.get("problem") or msg),
                              allowed=err.get("allowed"), got=err.get("got"))
    if kind == "PlacementError":
        raise PlacementError(str(err.get("summary") or msg), err.get("reasons") or ())
    if r.status_code == 401:
        raise Unauthenticated(msg)
    if r.status_code == 403:
        raise PermissionDenied(msg)
    if r.status_code == 404:
        raise NotFound(msg)
    raise SlipwayError(f"server error: {msg}")


def _json(method: str, url: str, *, token: str | None = None, body: Any = None, timeout: float = 30) -> Any:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        r = requests.request(method, url, headers=headers, json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise SlipwayError(f"{url.split('/api/')[0]} cannot be reached ({type(exc).__name__})") from None
    if r.status_code >= 400:
        _raise(r)
    return r.json()


class Client:
    """The API as Python calls (what ``slipway vessels ...`` does when a server is configured)."""

    def __init__(self, server: str, *, token: str | None = None, cache: TokenCache | None = None,
                 timeout: float = 300.0) -> None:
        self.server = _norm(server)
        self._token = token
        self._cache = cache
        self.timeout = timeout

    def _bearer(self) -> str | None:
        if self._token is not None:
            return self._token
        conf = _json("GET", f"{self.server}/api/v1/auth/config")
        if conf.get("mode") != "team" and not os.environ.get("SLIPWAY_TOKEN"):
            return None  # single-user mode: the server is the local user
        return bearer(self.server, cache=self._cache)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return _json(method, f"{self.server}/api/v1{path}", token=self._bearer(), body=body, timeout=self.timeout)

    def whoami(self) -> dict[str, Any]:
        out: dict[str, Any] = self.call("GET", "/whoami")
        return out

    def launch(self, **request: Any) -> dict[str, Any]:
        """``name, gpus, queue, cpus, memory, image, ssh_public_key, check`` as for ``slipway vessels launch``."""
        out: dict[str, Any] = self.call("POST", "/vessels", {k: v for k, v in request.items() if v is not None})
        return out

    def vessels(self, *, show_all: bool = False, owner: str | None = None) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({k: v for k, v in (("all", "true" if show_all else None), ("owner", owner)) if v})
        out: list[dict[str, Any]] = self.call("GET", "/vessels" + (f"?{q}" if q else ""))
        return out

    def status(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.call("GET", f"/vessels/{urllib.parse.quote(name)}")
        return out

    def stop(self, name: str, *, reason: str | None = None, check: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = self.call("POST", f"/vessels/{urllib.parse.quote(name)}/stop",
                                        {"reason": reason, "check": check})
        return out

    def keep(self, name: str, *, hours: float | None = None, until: str | None = None, clear: bool = False,
             check: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = self.call("POST", f"/vessels/{urllib.parse.quote(name)}/keep",
                                        {"hours": hours, "until": until, "clear": clear, "check": check})
        return out

    def hosts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.call("GET", "/hosts")
        return out

    def events(self, vessel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({k: v for k, v in (("vessel", vessel), ("limit", limit)) if v})
        out: list[dict[str, Any]] = self.call("GET", f"/events?{q}")
        return out


def write_ssh_entry(vessel: dict[str, Any], *, identity_file: str | None = None,
                    home: str | Path | None = None) -> bool:
    """Add the vessel's ``Host`` block to this machine's SSH config from a launch/status answer."""
    e = vessel.get("ssh_entry")
    if not e:
        return False
    return SshConfig(home).add(SshEntry(str(e["vessel"]), str(e["hostname"]), int(e["port"]), str(e["user"]),
                                        str(e["host_key"]), identity_file))


def forget_ssh_entry(name: str, *, home: str | Path | None = None) -> bool:
    return SshConfig(home).remove(name)

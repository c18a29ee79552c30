"""Browser sessions: the OIDC login for the pages (authorization code + PKCE, the server as the client),
an HttpOnly session cookie holding the ID token (validated on every request like a bearer token), and
CSRF tokens bound to that session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

SESSION_COOKIE = "slipway_session"
LOGIN_COOKIE = "slipway_login"
LOGIN_SECONDS = 600


class Signer:
    def __init__(self, secret: str | None) -> None:
        self.key = (secret or secrets.token_urlsafe(32)).encode()

    def sign(self, data: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def unsign(self, value: str | None, max_age: float) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(data, dict) or time.time() - float(data.get("t", 0)) > max_age:
            return None
        return data

    def csrf(self, session: str | None) -> str:
        """A token only pages served to this session carry (``local`` in single-user mode)."""
        bound = hashlib.sha256((session or "local").encode()).hexdigest()
        return hmac.new(self.key, f"csrf:{bound}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: str | None, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(session), str(token))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def safe_next(value: str | None) -> str:
    """Only a local path: never redirect a login to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value

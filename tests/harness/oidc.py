"""A real OIDC provider on loopback for tests: PyPI ``oidc-provider-mock`` (Flask + Authlib) in a thread.

It issues real RS256 ID tokens from its own key through the real authorization-code flow. Around it, a
small WSGI layer lets a test *publish* extra signing keys in the provider's ``/jwks`` (a key rotation as a
provider does it) and sign tokens with them, for claims the provider would never issue (expired, wrong
audience, not yet valid ...). ``login(sub)`` drives the provider's login form non-interactively.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

USERS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@example.com", "groups": ["slipway-researchers"]},
    "bob": {"email": "bob@example.com", "groups": ["slipway-researchers"]},
    "carol": {"email": "carol@example.com", "groups": ["slipway-admins"]},
    "victor": {"email": "victor@example.com", "groups": ["slipway-viewers"]},
    "nobody": {"email": "nobody@example.com", "groups": ["marketing"]},
}
CLIENT_ID = "slipway-test"
CLIENT_SECRET = "not-a-secret"  # the mock wants client_secret_post/basic; it accepts any value
ROLES = {"admin": ["slipway-admins"], "researcher": ["slipway-researchers"], "viewer": ["slipway-viewers"]}


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))


def new_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" else \
        ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid or f"test-{secrets.token_hex(4)}", alg, priv)


class Provider:
    """The running provider. ``issuer`` is its URL on 127.0.0.1 (the issuer follows the Host header)."""

    def __init__(self, users: dict[str, dict[str, Any]] | None = None, token_seconds: int = 600) -> None:
        from datetime import timedelta

        import oidc_provider_mock
        import werkzeug.serving

        self.users = dict(users or USERS)
        self.published: list[SigningKey] = []
        self.jwks_hits = 0
        inner = oidc_provider_mock.app(
            user_claims=[oidc_provider_mock.User(sub=s, claims=c) for s, c in self.users.items()],
            access_token_max_age=timedelta(seconds=token_seconds))

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/jwks":
                self.jwks_hits += 1
                if self.published:
                    captured: dict[str, Any] = {}

                    def sr(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
                        captured["status"] = status
                        return lambda _b: None

                    body = json.loads(b"".join(inner(environ, sr)))
                    body["keys"] = body.get("keys", []) + [k.public_jwk() for k in self.published]
                    data = json.dumps(body).encode()
                    start_response("200 OK", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(data)))])
                    return [data]
            return inner(environ, start_response)  # type: ignore[no-any-return]

        self.server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        self.meta: dict[str, Any] = requests.get(f"{self.issuer}/.well-known/openid-configuration",
                                                 timeout=10).json()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ keys the test controls
    def publish(self, key: SigningKey) -> None:
        self.published.append(key)

    def sign(self, key: SigningKey, claims: dict[str, Any] | None = None, *, headers: dict[str, Any] | None = None,
             **over: Any) -> str:
        """A token signed by ``key`` with sensible claims for ``alice`` unless overridden."""
        now = int(time.time())
        base = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "alice", "email": "alice@example.com",
                "groups": ["slipway-researchers"], "iat": now, "exp": now + 300}
        base.update(claims or {})
        base.update(over)
        base = {k: v for k, v in base.items() if v is not None}
        return jwt.encode(base, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})

    # ------------------------------------------------------------ the real login
    def authorize(self, sub: str, redirect_uri: str, *, client_id: str = CLIENT_ID, state: str = "s",
                  challenge: str | None = None, scope: str = "openid email profile") -> str:
        """POST the provider's login form as ``sub``; the Location the browser would be sent to."""
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
             "state": state}
        if challenge:
            q.update(code_challenge=challenge, code_challenge_method="S256")
        r = requests.post(f"{self.meta['authorization_endpoint']}?{urllib.parse.urlencode(q)}", data={"sub": sub},
                          allow_redirects=False, timeout=10)
        assert r.status_code in (302, 303), f"login form answered {r.status_code}: {r.text[:300]}"
        return str(r.headers["Location"])

    def login(self, sub: str, *, client_id: str = CLIENT_ID) -> dict[str, Any]:
        """The token response (id_token, access_token, refresh_token) for ``sub``, through PKCE."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://127.0.0.1:1/callback"
        loc = self.authorize(sub, redirect, client_id=client_id, challenge=challenge)
        code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["code"][0]
        r = requests.post(self.meta["token_endpoint"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": client_id,
            "client_secret": CLIENT_SECRET, "code_verifier": verifier}, timeout=10)
        assert r.status_code == 200, f"token endpoint answered {r.status_code}: {r.text[:300]}"
        out: dict[str, Any] = r.json()
        return out

    def id_token(self, sub: str) -> str:
        return str(self.login(sub)["id_token"])

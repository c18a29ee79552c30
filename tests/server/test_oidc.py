"""OIDC validation against the real provider on loopback: every forgery and mistake → 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import pytest

from tests.harness.oidc import Provider, SigningKey, new_key
from tests.server.conftest import Api


@pytest.fixture(scope="module")
def trusted(provider: Provider) -> SigningKey:
    """A second key the provider publishes in its JWKS (as after a rotation), for claims it never issues."""
    k = new_key("RS256", kid="trusted-rs")
    provider.publish(k)
    return k


@pytest.mark.parametrize(("user", "roles", "admin"), [
    ("alice", ["researcher"], False), ("carol", ["admin"], True), ("victor", ["viewer"], False)])
def test_valid_token_per_role(team: Api, user: str, roles: list[str], admin: bool) -> None:
    r = team.get("/api/v1/whoami", as_=user)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me == {"name": user, "admin": admin, "roles": roles, "subject": user, "email": f"{user}@example.com",
                  "via": "oidc"}
    assert team.get("/api/v1/vessels", as_=user).status_code == 200


def test_no_role_is_403_and_no_token_is_401(team: Api) -> None:
    r = team.get("/api/v1/vessels", as_="nobody")
    assert r.status_code == 403 and "no Slipway role" in r.json()["error"]["message"]
    r = team.get("/api/v1/vessels")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["error"]["type"] == "Unauthenticated"


def _b64(d: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _bad_tokens(provider: Provider, trusted: SigningKey, real: str) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    h, p, s = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    tampered = f"{h}.{_b64({**claims, 'groups': ['slipway-admins']})}.{s}"
    # the classic forgery: HMAC "signed" with the provider's public key (PyJWT refuses to make one; by hand)
    signing_input = (f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': trusted.kid})}."
                     f"{_b64({**claims, 'groups': ['slipway-admins'], 'exp': now + 300})}")
    mac = hmac.new(trusted.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    none = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'groups': ['slipway-admins']})}."
    unknown = new_key("RS256", kid="never-published")
    return {
        "expired": (provider.sign(trusted, exp=now - 3600, iat=now - 7200), "expired"),
        "not yet valid": (provider.sign(trusted, nbf=now + 3600), "not valid yet"),
        "wrong issuer": (provider.sign(trusted, iss="http://localhost:1"), "issuer"),
        "wrong audience": (provider.sign(trusted, aud="someone-else"), "audience"),
        "no exp": (provider.sign(trusted, exp=None), "exp"),
        "unknown kid": (provider.sign(unknown), "never-published"),
        "alg none": (none, "'none' refused"),
        "HS256 with the public key": (hs256, "'HS256' refused"),
        "tampered payload": (tampered, "signature"),
        "garbage": ("not.a.jwt", "not a JWT"),
    }


BAD = ["expired", "not yet valid", "wrong issuer", "wrong audience", "no exp", "unknown kid", "alg none",
       "HS256 with the public key", "tampered payload", "garbage"]


@pytest.mark.parametrize("case", BAD)
def test_bad_tokens_are_401(team: Api, provider: Provider, trusted: SigningKey, id_tokens: Callable[[str], str],
                            case: str) -> None:
    token, words = _bad_tokens(provider, trusted, id_tokens("alice"))[case]
    r = team.get("/api/v1/vessels", token=token)
    assert r.status_code == 401, (case, r.text)
    msg = r.json()["error"]["message"]
    assert words in msg, (case, msg)
    assert token not in r.text


def test_trusted_key_and_leeway_accepted(team: Api, provider: Provider, trusted: SigningKey) -> None:
    now = int(time.time())
    assert team.get("/api/v1/whoami", token=provider.sign(trusted)).status_code == 200
    # 10 s past exp is within the 30 s leeway; 60 s is not
    assert team.get("/api/v1/whoami", token=provider.sign(trusted, exp=now - 10)).status_code == 200
    assert team.get("/api/v1/whoami", token=provider.sign(trusted, exp=now - 60)).status_code == 401


def test_unknown_kid_then_rotation(team: Api, provider: Provider) -> None:
    """A key the provider has not published yet is refused; once it is (rotation), the JWKS is refetched."""
    rotated = new_key("ES256", kid=f"rotated-{time.time_ns()}")
    token = provider.sign(rotated, sub="carol", email="carol@example.com", groups=["slipway-admins"])
    before = provider.jwks_hits
    r = team.get("/api/v1/whoami", token=token)
    assert r.status_code == 401 and rotated.kid in r.json()["error"]["message"]
    assert provider.jwks_hits > before  # it did look again
    provider.publish(rotated)
    r = team.get("/api/v1/whoami", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["admin"]
    hits = provider.jwks_hits
    assert team.get("/api/v1/whoami", token=token).status_code == 200
    assert provider.jwks_hits == hits  # cached: a known kid costs no fetch

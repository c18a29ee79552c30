"""OIDC token validation: discovery, a cached JWKS refetched on an unknown ``kid``, RS256/ES256 only.

Works with any OpenID Connect provider (Auth0, Okta, Google, Microsoft Entra ID, Keycloak): the issuer URL
is all it needs to find the signing keys. A token is accepted only when

- its header's ``alg`` is one of the allowed asymmetric algorithms (``none`` and every ``HS*`` are refused
  before anything else: an HMAC "signed" with the public key is a classic forgery);
- a key of the provider's JWKS verifies the signature (the key named by ``kid``; a token without ``kid``,
  as some providers issue ID tokens, is tried against each key of the matching type);
- ``iss`` equals the configured issuer, ``aud`` contains the configured audience, and ``exp`` / ``nbf``
  hold within a small leeway.

An unknown ``kid`` makes the validator refetch the JWKS once (at most every ``jwks_refetch_seconds``), so a
provider's key rotation is picked up without a restart and a flood of junk tokens cannot hammer it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

from slipway.auth.errors import Unauthenticated
from slipway.errors import ValidationError

ALLOWED_ALGORITHMS = ("RS256", "ES256")
_KTY = {"RS256": "RSA", "ES256": "EC"}


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: tuple[str, ...]
    client_id: str = ""  # the public client `slipway login` uses (often the same as the audience)
    client_secret: str | None = field(default=None, repr=False)  # the web pages' login, if the client has one
    user_claim: str = "email"
    leeway_seconds: float = 30.0
    algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS
    jwks_refetch_seconds: float = 60.0
    http_timeout: float = 10.0
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    # Providers whose access tokens are opaque (Google, some Auth0 set-ups): ask the userinfo endpoint.
    # Off by default: an opaque token carries no audience, so any client of the provider could present one.
    opaque_via_userinfo: bool = False
    userinfo_cache_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://127.", "http://localhost")):
            raise ValidationError("oidc.issuer", "must be an https URL (http only on loopback)",
                                  allowed="e.g. https://example.eu.auth0.com/", got=self.issuer)
        if not self.audience:
            raise ValidationError("oidc.audience", "is required", allowed="the API identifier or client id")
        for a in self.algorithms:
            if a not in ALLOWED_ALGORITHMS:
                raise ValidationError("oidc.algorithms", "only asymmetric algorithms are accepted",
                                      allowed=ALLOWED_ALGORITHMS, got=a)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> OidcSettings:
        if not isinstance(raw, Mapping) or not raw.get("issuer"):
            raise ValidationError("oidc.issuer", "is required when oidc is configured",
                                  allowed="the provider's issuer URL")
        aud = raw.get("audience") or raw.get("client_id")
        auds = (aud,) if isinstance(aud, str) else tuple(aud or ())
        return cls(issuer=str(raw["issuer"]), audience=tuple(str(a) for a in auds),
                   client_id=str(raw.get("client_id") or (auds[0] if auds else "")),
                   client_secret=os.environ.get("SLIPWAY_OIDC_CLIENT_SECRET") or raw.get("client_secret"),
                   user_claim=str(raw.get("user_claim", "email")),
                   leeway_seconds=float(raw.get("leeway_seconds", 30)),
                   algorithms=tuple(raw.get("algorithms", ALLOWED_ALGORITHMS)),
                   jwks_refetch_seconds=float(raw.get("jwks_refetch_seconds", 60)),
                   scopes=tuple(raw.get("scopes", ("openid", "email", "profile"))),
                   opaque_via_userinfo=bool(raw.get("opaque_via_userinfo", False)))


Fetch = Callable[..., Any]


def http_json(timeout: float) -> Fetch:
    def fetch(url: str, bearer: str | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            r = requests.get(url, timeout=timeout, headers=headers)
        except requests.RequestException as exc:
            raise Unauthenticated(f"the identity provider cannot be reached ({type(exc).__name__})") from None
        if r.status_code in (401, 403) and bearer is not None:
            raise Unauthenticated("the identity provider does not accept this access token")
        if r.status_code != 200:
            raise Unauthenticated(f"the identity provider answered HTTP {r.status_code} for {url}")
        return r.json()
    return fetch


@dataclass
class _Keys:
    by_kid: dict[str, jwt.PyJWK] = field(default_factory=dict)
    anonymous: list[jwt.PyJWK] = field(default_factory=list)
    fetched_at: float = 0.0


class OidcValidator:
    """Validates bearer JWTs for one issuer. Thread-safe; discovery and JWKS are fetched lazily."""

    def __init__(self, settings: OidcSettings, *, fetch: Fetch | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self._fetch = fetch or http_json(settings.http_timeout)
        self._clock = clock
        self._lock = threading.RLock()
        self._metadata: dict[str, Any] | None = None
        self._keys = _Keys()
        self._userinfo: dict[str, tuple[float, dict[str, Any]]] = {}
        self.jwks_fetches = 0

    # ------------------------------------------------------------ discovery and keys
    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                url = self.s.issuer.rstrip("/") + "/.well-known/openid-configuration"
                meta = self._fetch(url)
                if not isinstance(meta, dict) or "jwks_uri" not in meta:
                    raise Unauthenticated(f"{url} is not an OpenID Connect discovery document")
                if str(meta.get("issuer", "")).rstrip("/") != self.s.issuer.rstrip("/"):
                    raise Unauthenticated(f"the discovery document names issuer {meta.get('issuer')!r}, "
                                          f"not the configured {self.s.issuer!r}")
                self._metadata = meta
            return self._metadata

    def _refresh_keys(self, *, force: bool) -> None:
        now = time.monotonic()
        if self._keys.fetched_at and not force:
            return
        if force and self._keys.fetched_at and now - self._keys.fetched_at < self.s.jwks_refetch_seconds:
            return
        raw = self._fetch(str(self.metadata()["jwks_uri"]))
        keys = _Keys(fetched_at=now)
        for k in (raw or {}).get("keys", []):
            if k.get("use", "sig") != "sig" or k.get("kty") not in ("RSA", "EC"):
                continue
            try:
                jwk = jwt.PyJWK(k, algorithm=k.get("alg") or ("RS256" if k["kty"] == "RSA" else "ES256"))
            except jwt.PyJWTError:
                continue
            if k.get("kid"):
                keys.by_kid[str(k["kid"])] = jwk
            keys.anonymous.append(jwk)
        self.jwks_fetches += 1
        self._keys = keys

    def _candidates(self, kid: str | None, alg: str) -> list[jwt.PyJWK]:
        self.metadata()
        with self._lock:
            self._refresh_keys(force=False)
            if kid is not None:
                if kid not in self._keys.by_kid:
                    self._refresh_keys(force=True)  # the provider may have rotated its keys
                k = self._keys.by_kid.get(kid)
                if k is None:
                    raise Unauthenticated(f"the token's signing key {kid!r} is not in the provider's key set")
                return [k]
            return [k for k in self._keys.anonymous if _kty(k) == _KTY[alg]]

    # ------------------------------------------------------------ validation
    def validate(self, token: str) -> dict[str, Any]:
        """The token's verified claims; Unauthenticated (never echoing the token) when anything is off."""
        if token.count(".") != 2 and self.s.opaque_via_userinfo:
            return self._opaque(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        alg = str(header.get("alg", ""))
        if alg not in self.s.algorithms:
            raise Unauthenticated(f"token algorithm {alg or 'missing'!r} refused; allowed: "
                                  f"{', '.join(self.s.algorithms)}")
        kid = header.get("kid")
        candidates = self._candidates(str(kid) if kid is not None else None, alg)
        if not candidates:
            raise Unauthenticated("no key of the provider's key set can verify this token")
        last: Exception | None = None
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key=key, algorithms=[alg], audience=list(self.s.audience), issuer=self.s.issuer,
                    leeway=self.s.leeway_seconds,
                    options={"require": ["exp", "iss", "aud", "sub"], "verify_signature": True})
                return claims
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("the token has expired: log in again (slipway login)") from None
            except jwt.ImmatureSignatureError:
                raise Unauthenticated("the token is not valid yet (nbf/iat in the future)") from None
            except jwt.InvalidIssuerError:
                raise Unauthenticated(f"the token's issuer is not {self.s.issuer!r}") from None
            except jwt.InvalidAudienceError:
                raise Unauthenticated(f"the token's audience is not {', '.join(self.s.audience)}") from None
            except jwt.MissingRequiredClaimError as exc:
                raise Unauthenticated(f"the token lacks the {exc.claim!r} claim") from None
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"the token is invalid ({type(exc).__name__})") from None
        raise Unauthenticated("the token's signature does not verify" + (f" ({type(last).__name__})" if last else ""))


    def _opaque(self, token: str) -> dict[str, Any]:
        """An opaque access token: valid when the provider's userinfo endpoint accepts it (cached briefly)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._userinfo.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        url = self.metadata().get("userinfo_endpoint")
        if not url:
            raise Unauthenticated("the provider has no userinfo endpoint to check an opaque access token")
        claims = self._fetch(str(url), bearer=token)
        if not isinstance(claims, dict) or not claims.get("sub"):
            raise Unauthenticated("the provider's userinfo answer has no subject")
        with self._lock:
            if len(self._userinfo) > 10_000:
                self._userinfo.clear()
            self._userinfo[key] = (now + self.s.userinfo_cache_seconds, claims)
        return claims


def _kty(k: jwt.PyJWK) -> str:
    return str(k.key_type)


def audience_list(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)

"""Authentication and authorization for ``slipway server`` (no web framework in here).

- :mod:`slipway.auth.oidc`: OIDC token validation (discovery, JWKS with rotation, RS256/ES256 only).
- :mod:`slipway.auth.roles`: roles from a claim, role → permissions, ``require`` (pure).
- :mod:`slipway.auth.tokens`: automation tokens (hashed in the ledger, scoped, expiring, revocable).
- :mod:`slipway.auth.identity`: credentials → :class:`slipway.identity.Actor`.
"""

from slipway.auth.errors import Unauthenticated

__all__ = ["Unauthenticated"]

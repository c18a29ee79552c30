"""Authentication errors (a face maps them to HTTP 401; permission problems stay PermissionDenied → 403)."""

from __future__ import annotations

from slipway.errors import SlipwayError


class Unauthenticated(SlipwayError):
    """No credentials, or credentials that failed validation. The message never contains the token."""

    exit_code = 6

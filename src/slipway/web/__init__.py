"""Web pages on ``slipway server``: server-rendered HTML (Jinja2), no build step, readable without JavaScript.

Pages: ``/`` (summary), ``/fleet`` (GPU grid), ``/vessels``, ``/vessels/<name>``, ``/launch``, ``/undertaker``.
They call the same use cases as the API (:mod:`slipway.server.ops`) and declare their permission the same
way; forms carry a CSRF token bound to the session, and what a role may not do is not shown to it.
"""

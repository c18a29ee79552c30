"""The push webhook: one ASGI app (Starlette) for ``POST /webhooks/github`` and ``POST /webhooks/bitbucket``,
and the AWS Lambda entry point ``handler`` over the same app (Mangum, API Gateway v2 events).

The face only checks the request (size 413, authorisation 401/403, shape 400), turns the payload into
commits and calls ``service.submit_commits``. Secrets are read through ``CachedSecrets`` (re-read after
``secrets_ttl`` seconds), compared in constant time, and never logged or answered.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from slipway.errors import SlipwayError, ValidationError
from slipway.runs import push, service
from slipway.runs.aws import CachedSecrets, SecretReader, secret_list
from slipway.runs.keywords import DEFAULT_PREFIX, Limits, check_prefix
from slipway.runs.plan import Commit

log = logging.getLogger("slipway.runs.webhook")

DEFAULT_MAX_BODY = 5 * 1024 * 1024


@dataclass(frozen=True)
class WebhookConfig:
    """What the webhook needs; ``from_env`` is how the Lambda function gets it (set by Pulumi)."""

    uuids_secret: str
    github_secret: str | None = None
    secrets_ttl: float = 30.0
    max_body: int = DEFAULT_MAX_BODY
    prefix: str = DEFAULT_PREFIX
    #: clone URL handed to the job, ``{repo}``/``{full_name}`` filled in (default: the payload's URL)
    clone_url: str | None = None

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        if not 0 <= self.secrets_ttl <= CachedSecrets.MAX_TTL:
            raise ValidationError("secrets_ttl", "is out of range (seconds)", got=self.secrets_ttl, allowed="0..60")
        if self.max_body < 1024:
            raise ValidationError("max_body", "is too small (bytes)", got=self.max_body, allowed=">= 1024")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookConfig:
        if not env.get("SLIPWAY_WEBHOOK_UUIDS_SECRET"):
            raise ValidationError("SLIPWAY_WEBHOOK_UUIDS_SECRET", "is not set",
                                  allowed="the name or ARN of the webhook-uuids secret")
        try:
            ttl = float(env.get("SLIPWAY_SECRETS_TTL", "30"))
            max_body = int(env.get("SLIPWAY_WEBHOOK_MAX_BODY", str(DEFAULT_MAX_BODY)))
        except ValueError:
            raise ValidationError("SLIPWAY_SECRETS_TTL/SLIPWAY_WEBHOOK_MAX_BODY", "is not a number") from None
        return cls(uuids_secret=env["SLIPWAY_WEBHOOK_UUIDS_SECRET"],
                   github_secret=env.get("SLIPWAY_GITHUB_SECRET") or None, secrets_ttl=ttl, max_body=max_body,
                   prefix=env.get("SLIPWAY_RUNS_PREFIX") or DEFAULT_PREFIX,
                   clone_url=env.get("SLIPWAY_CLONE_URL") or None)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "submitted": []}, status_code=status)


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: WebhookConfig, secrets: SecretReader, runner: service.Runner) -> Starlette:
    """The webhook app. ``secrets`` is wrapped in a TTL cache; ``runner`` submits (Batch or local)."""
    cached = CachedSecrets(secrets, ttl=config.secrets_ttl)

    def with_clone_url(commits: list[Commit], full_name: str) -> list[Commit]:
        if not config.clone_url:
            return commits
        return [dataclasses.replace(c, clone_url=config.clone_url.format(repo=c.repo, full_name=full_name))
                for c in commits]

    def respond(source: str, commits: list[Commit], full_name: str) -> JSONResponse:
        try:
            outcomes = service.submit_commits(with_clone_url(commits, full_name), runner, prefix=config.prefix)
        except SlipwayError as exc:
            log.error("%s push: submission failed: %s", source, exc)
            return _error(502, f"submission failed: {exc}")
        submitted = [o.as_dict() for o in outcomes if o.status == "submitted"]
        return JSONResponse({"event": "push", "commits": [o.as_dict() for o in outcomes], "submitted": submitted},
                            status_code=202 if submitted else 200)

    async def handle(request: Request, source: str, authorise: Callable[[Request, bytes], JSONResponse | None],
                     parse: Callable[[Any], list[Commit]], is_push: Callable[[Request], str | None]) -> JSONResponse:
        try:
            body = await _body(request, config.max_body)
        except _TooLarge:
            log.warning("%s request rejected: body over %d bytes", source, config.max_body)
            return _error(413, f"request body is over {config.max_body} bytes")
        try:
            denied = await run_in_threadpool(authorise, request, body)  # may read Secrets Manager
        except SlipwayError as exc:
            log.error("%s request: the authorised list cannot be read: %s", source, exc)
            return _error(503, "the authorised list cannot be read")
        if denied is not None:
            return denied
        kind = is_push(request)
        if kind == "ping":
            return JSONResponse({"event": "ping", "submitted": []})
        if kind is None:
            return _error(400, "only push events are handled")
        try:
            payload = json.loads(body)
            commits = parse(payload)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        except ValidationError as exc:
            return _error(400, f"malformed push payload: {exc}")
        full = payload.get("repository", {}).get("full_name", "") if isinstance(payload, dict) else ""
        return await run_in_threadpool(respond, source, commits, str(full))  # Batch calls block

    def github_auth(request: Request, body: bytes) -> JSONResponse | None:
        header = request.headers.get("x-hub-signature-256")
        if not header:
            log.warning("github request rejected: no X-Hub-Signature-256")
            return _error(401, "X-Hub-Signature-256 is missing")
        if not config.github_secret:
            return _error(403, "GitHub webhooks are not configured")
        if not push.github_signature_ok(secret_list(cached.read(config.github_secret)), body, header):
            log.warning("github request rejected: signature does not match")
            return _error(403, "the signature does not match")
        return None

    def github_event(request: Request) -> str | None:
        event = request.headers.get("x-github-event", "")
        return event if event in {"push", "ping"} else None

    def bitbucket_auth(request: Request, body: bytes) -> JSONResponse | None:
        header = request.headers.get("x-hook-uuid")
        if not header:
            log.warning("bitbucket request rejected: no X-Hook-UUID")
            return _error(401, "X-Hook-UUID is missing")
        if not push.uuid_ok(secret_list(cached.read(config.uuids_secret)), header):
            log.warning("bitbucket request rejected: the hook UUID is not authorised")
            return _error(403, "this webhook is not authorised (add its X-Hook-UUID to the webhook-uuids secret)")
        return None

    def bitbucket_event(request: Request) -> str | None:
        return "push" if request.headers.get("x-event-key") == "repo:push" else None

    async def github(request: Request) -> JSONResponse:
        return await handle(request, "github", github_auth, push.github_commits, github_event)

    async def bitbucket(request: Request) -> JSONResponse:
        return await handle(request, "bitbucket", bitbucket_auth, push.bitbucket_commits, bitbucket_event)

    return Starlette(routes=[Route("/webhooks/github", github, methods=["POST"]),
                             Route("/webhooks/bitbucket", bitbucket, methods=["POST"])])


def app_from_env(env: Mapping[str, str] | None = None) -> Starlette:
    """The app as the Lambda function runs it: config, secrets and Batch targets from the environment."""
    from slipway.runs.aws import BatchRuns, SecretsManager

    env = dict(os.environ if env is None else env)
    config = WebhookConfig.from_env(env)
    try:
        queues = json.loads(env.get("SLIPWAY_BATCH_QUEUES", "{}"))
        definitions = json.loads(env.get("SLIPWAY_BATCH_JOB_DEFINITIONS", "{}"))
        limits = {p: Limits(**v) for p, v in json.loads(env.get("SLIPWAY_RUN_LIMITS", "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        raise ValidationError("SLIPWAY_BATCH_QUEUES/SLIPWAY_BATCH_JOB_DEFINITIONS/SLIPWAY_RUN_LIMITS",
                              "is not the JSON the stack sets") from None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    runner = BatchRuns(queues, definitions, region=region, endpoint_url=endpoint, limits=limits)
    return create_app(config, SecretsManager(region=region, endpoint_url=endpoint), runner)


_HANDLER: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (API Gateway HTTP API, payload v2): the same app through Mangum."""
    global _HANDLER
    if _HANDLER is None:
        from mangum import Mangum

        logging.getLogger("slipway").setLevel(logging.INFO)
        _HANDLER = Mangum(app_from_env(), lifespan="off")
    result: dict[str, Any] = _HANDLER(event, context)
    return result

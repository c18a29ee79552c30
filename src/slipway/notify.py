"""Notifications: a Slack incoming webhook, or the ledger alone when none is configured.

The webhook URL is a secret (anyone holding it can post to the channel): it is never printed, never
put in exception text (``requests`` puts URLs in its messages, so they are replaced) and never stored.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

import requests

from slipway.errors import SlipwayError, ValidationError


class NotifyError(SlipwayError):
    """The message could not be delivered."""


class Notifier(Protocol):
    channel: str

    def send(self, text: str) -> None: ...


class LedgerOnly:
    """No webhook configured: messages are only recorded (events and notices in the ledger)."""

    channel = "ledger"

    def send(self, text: str) -> None:
        return None


class SlackWebhook:
    channel = "slack"

    def __init__(self, url: str, *, timeout: float = 10.0, field: str = "slack_webhook_url") -> None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            # the value itself is secret: say what is wrong without echoing it
            raise ValidationError(field, "not an http(s) URL (value hidden)",
                                  allowed="https://hooks.slack.com/services/T.../B.../...")
        self._url = url
        self._timeout = timeout

    def __repr__(self) -> str:
        return "SlackWebhook(<hidden>)"

    def send(self, text: str) -> None:
        try:
            r = requests.post(self._url, json={"text": text}, timeout=self._timeout)
        except requests.RequestException as exc:
            raise NotifyError(f"Slack webhook cannot be reached ({type(exc).__name__})") from None
        if r.status_code >= 300:
            raise NotifyError(f"Slack webhook answered HTTP {r.status_code}: {r.text[:200]}")


def notifier(webhook_url: str | None, timeout: float = 10.0) -> Notifier:
    return SlackWebhook(webhook_url, timeout=timeout) if webhook_url else LedgerOnly()

"""A small Prometheus HTTP API client (``/api/v1/query`` and ``/api/v1/query_range``).

It counts the queries it makes (the undertaker promises a constant number per run) and turns every
failure into :class:`MetricsError` whose text names the server without any credentials in its URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from slipway.errors import SlipwayError, ValidationError


class MetricsError(SlipwayError):
    """Prometheus could not be reached or refused the query."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (epoch seconds, value)


class MetricsSource(Protocol):
    queries: int

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: int) -> list[Series]: ...


def safe_base(url: str) -> str:
    """The URL without user:password@, for messages."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


@dataclass
class Prometheus:
    url: str
    timeout: float = 30.0
    field_name: str = "prometheus_url"
    queries: int = 0
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        p = urlsplit(self.url or "")
        if p.scheme not in ("http", "https") or not p.hostname:
            raise ValidationError(self.field_name, "not a Prometheus URL", got=safe_base(self.url or ""),
                                  allowed="http(s)://HOST:PORT, e.g. http://prometheus.example.com:9090")
        self.url = self.url.rstrip("/")

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        self.queries += 1
        where = safe_base(self.url)
        try:
            # POST keeps long expressions out of URLs and proxies' logs; the API accepts both.
            r = self._session.post(f"{self.url}{path}", data=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise MetricsError(f"Prometheus at {where} cannot be reached ({type(exc).__name__}); "
                               "check undertaker_prometheus_url and that Prometheus is up") from None
        try:
            body = r.json()
        except ValueError:
            raise MetricsError(f"Prometheus at {where} answered HTTP {r.status_code} with no JSON") from None
        if r.status_code != 200 or body.get("status") != "success":
            raise MetricsError(f"Prometheus at {where} refused the query: {body.get('errorType', r.status_code)}"
                               f": {body.get('error', '')}")
        return body["data"]

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: int) -> list[Series]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start.timestamp():.3f}",
                                                 "end": f"{end.timestamp():.3f}", "step": str(step_s)})
        return [Series(dict(s["metric"]), [(float(t), float(v)) for t, v in s["values"]])
                for s in data.get("result", [])]

    def query(self, expr: str, at: datetime | None = None) -> list[Series]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        data = self._get("/api/v1/query", params)
        out = []
        for s in data.get("result", []):
            t, v = s["value"]
            out.append(Series(dict(s["metric"]), [(float(t), float(v))]))
        return out

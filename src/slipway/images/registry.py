"""Does ``<repository>:<tag>`` exist? Any OCI registry (distribution API) or Amazon ECR (boto3).

Both sit behind the small :class:`Registry` protocol so the CI step runs unchanged against a
local registry in tests and ECR in production.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from slipway.errors import SlipwayError, ValidationError

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


class RegistryError(SlipwayError):
    """The registry cannot be reached or refused a request."""


class Registry(Protocol):
    host: str

    def ping(self) -> None: ...

    def exists(self, repository: str, tag: str) -> bool: ...

    def auth_config(self) -> dict[str, str] | None: ...

    def prepare(self, repository: str) -> None: ...


@dataclass
class OciRegistry:
    """A registry speaking the distribution API v2, e.g. ``http://127.0.0.1:5000``."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    host: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url if "://" in self.url else f"https://{self.url}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("registry", "must be an http(s) URL of an OCI registry or ecr://REGION",
                                  got=self.url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self._session = requests.Session()
        if self.username:
            self._session.auth = (self.username, self.password or "")

    def _get(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            return self._session.request(method, f"{self.url}{path}", timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.url} is unreachable: {type(exc).__name__}") from None

    def ping(self) -> None:
        r = self._get("GET", "/v2/")
        if r.status_code not in (200, 401):
            raise RegistryError(f"registry {self.url} answered /v2/ with HTTP {r.status_code}: "
                                "not an OCI distribution registry")
        if r.status_code == 401:
            raise RegistryError(f"registry {self.url} refused the credentials (HTTP 401)")

    def exists(self, repository: str, tag: str) -> bool:
        r = self._get("HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
        if r.status_code == 200:
            return True
        if r.status_code == 404:
            return False
        raise RegistryError(f"registry {self.url} answered HTTP {r.status_code} for {repository}:{tag}")

    def auth_config(self) -> dict[str, str] | None:
        if self.username:
            return {"username": self.username, "password": self.password or ""}
        return None

    def prepare(self, repository: str) -> None:
        return None


@dataclass
class EcrRegistry:
    """Amazon ECR through boto3 (``endpoint_url`` lets tests use moto server)."""

    region: str
    endpoint_url: str | None = None
    registry_id: str | None = None
    host: str = ""
    client: Any = None

    def __post_init__(self) -> None:
        import boto3  # the cloud extra; imported only for ECR

        self.client = self.client or boto3.client("ecr", region_name=self.region, endpoint_url=self.endpoint_url)
        self._auth: dict[str, str] | None = None

    def _call(self, name: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(**kw)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise RegistryError(f"ECR ({self.region}) is unreachable: {type(exc).__name__}") from None

    def ping(self) -> None:
        data = self._call("get_authorization_token", **({"registryIds": [self.registry_id]}
                                                          if self.registry_id else {}))
        item = data["authorizationData"][0]
        user, _, password = base64.b64decode(item["authorizationToken"]).decode().partition(":")
        self._auth = {"username": user, "password": password}
        self.host = urlsplit(item["proxyEndpoint"]).netloc or item["proxyEndpoint"]

    def exists(self, repository: str, tag: str) -> bool:
        from botocore.exceptions import ClientError

        kw: dict[str, Any] = {"repositoryName": repository, "imageIds": [{"imageTag": tag}]}
        if self.registry_id:
            kw["registryId"] = self.registry_id
        try:
            data = self._call("describe_images", **kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            raise RegistryError(f"ECR refused describe_images for {repository}:{tag}: {code}") from None
        return bool(data.get("imageDetails"))

    def auth_config(self) -> dict[str, str] | None:
        return self._auth

    def prepare(self, repository: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call("create_repository", repositoryName=repository)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                raise RegistryError(f"ECR refused to create repository {repository}") from None


def registry_from(spec: str, *, endpoint_url: str | None = None, username: str | None = None,
                  password: str | None = None) -> Registry:
    """``ecr://REGION[/REGISTRY_ID]`` or an http(s) URL / ``host:port`` of an OCI registry."""
    if spec.startswith("ecr://"):
        rest = spec[len("ecr://"):].strip("/")
        region, _, reg_id = rest.partition("/")
        if not region:
            raise ValidationError("registry", "ecr:// needs a region, e.g. ecr://eu-west-1", got=spec)
        return EcrRegistry(region, endpoint_url, reg_id or None)
    if not spec:
        raise ValidationError("registry", "is required: an http(s) URL of an OCI registry or ecr://REGION")
    return OciRegistry(spec, username, password)

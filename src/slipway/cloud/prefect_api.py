"""A small typed client for the parts of the Prefect REST API Slipway manages (work pools, blocks,
flows, deployments). Works with a self-hosted server (``http://host:4200/api``) and Prefect Cloud
(``.../api/accounts/<a>/workspaces/<w>`` plus an API key). The key is sent as a header and never
appears in errors or ``repr``.
"""

from __future__ import annotations

from typing import Any

import requests

from slipway.errors import NotFound, SlipwayError


class PrefectApiError(SlipwayError):
    """The Prefect API refused or failed; the text carries the status and Prefect's own detail."""

    def __init__(self, what: str, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"Prefect API: {what} failed with HTTP {status}: {detail}")


class PrefectApi:
    def __init__(self, api_url: str, api_key: str | None = None, timeout: float = 30) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"PrefectApi({self.api_url!r})"

    # ------------------------------------------------------------------ plumbing
    def _call(self, method: str, path: str, what: str, json: Any = None, ok_missing: bool = False) -> Any:
        try:
            resp = self._session.request(method, f"{self.api_url}{path}", json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SlipwayError(f"Prefect API at {self.api_url} cannot be reached ({type(exc).__name__}); "
                               "is the server running and prefectApiUrl right?") from None
        if resp.status_code == 404 and ok_missing:
            return None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text[:500]
            if resp.status_code == 404:
                raise NotFound(f"Prefect API: {what}: {detail}")
            raise PrefectApiError(what, resp.status_code, detail)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def health(self) -> bool:
        return bool(self._call("GET", "/health", "health check"))

    # ------------------------------------------------------------------ work pools
    def get_work_pool(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call("GET", f"/work_pools/{name}", f"read work pool {name!r}",
                                                   ok_missing=True)
        return result

    def create_work_pool(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/work_pools/", f"create work pool {body.get('name')!r}",
                                            json=body)
        return result

    def update_work_pool(self, name: str, changes: dict[str, Any]) -> None:
        self._call("PATCH", f"/work_pools/{name}", f"update work pool {name!r}", json=changes)

    def delete_work_pool(self, name: str) -> None:
        self._call("DELETE", f"/work_pools/{name}", f"delete work pool {name!r}", ok_missing=True)

    def list_work_pools(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/work_pools/filter", "list work pools", json={})
        return result

    # ------------------------------------------------------------------ blocks
    def block_schema(self, type_slug: str) -> tuple[str, str]:
        """(block type id, newest block schema id) of a registered block type, e.g. ``aws-credentials``."""
        btype = self._call("GET", f"/block_types/slug/{type_slug}", f"read block type {type_slug!r}")
        schemas = self._call("POST", "/block_schemas/filter", f"read block schemas of {type_slug!r}",
                             json={"block_schemas": {"block_type_id": {"any_": [btype["id"]]}}, "limit": 1})
        if not schemas:
            raise NotFound(f"Prefect API: block type {type_slug!r} has no schema; register it with "
                           f"`prefect block register -m prefect_aws`")
        return str(btype["id"]), str(schemas[0]["id"])

    def get_block_document(self, block_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call("GET", f"/block_documents/{block_id}",
                                                   f"read block {block_id}", ok_missing=True)
        return result

    def create_block_document(self, name: str, type_slug: str, data: dict[str, Any]) -> dict[str, Any]:
        type_id, schema_id = self.block_schema(type_slug)
        result: dict[str, Any] = self._call("POST", "/block_documents/", f"create block {type_slug}/{name}",
                                            json={"name": name, "data": data, "block_type_id": type_id,
                                                  "block_schema_id": schema_id})
        return result

    def update_block_document(self, block_id: str, data: dict[str, Any]) -> None:
        self._call("PATCH", f"/block_documents/{block_id}", f"update block {block_id}",
                   json={"data": data, "merge_existing_data": False})

    def delete_block_document(self, block_id: str) -> None:
        self._call("DELETE", f"/block_documents/{block_id}", f"delete block {block_id}", ok_missing=True)

    # ------------------------------------------------------------------ flows and deployments
    def ensure_flow(self, name: str) -> str:
        flow = self._call("POST", "/flows/", f"create flow {name!r}", json={"name": name})
        return str(flow["id"])

    def create_deployment(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/deployments/", f"create deployment {body.get('name')!r}",
                                            json=body)
        return result

    def delete_deployment(self, deployment_id: str) -> None:
        self._call("DELETE", f"/deployments/{deployment_id}", f"delete deployment {deployment_id}",
                   ok_missing=True)

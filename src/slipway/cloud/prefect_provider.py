"""Prefect work pools and blocks as Pulumi dynamic resources, over the Prefect REST API.

Prefect has no official Pulumi provider. These providers implement create, read (refresh), diff,
update and delete in Python; ``pulumi up`` runs them from the stack's virtualenv. Properties:

* ``WorkPool``: ``api_url``, ``api_key`` (secret, optional), ``name``, ``type``, ``description``,
  ``base_job_template``, ``concurrency_limit``, ``is_paused``. Changing ``name`` or ``type``
  replaces the pool; the rest is updated in place with a PATCH of only the fields that changed.
* ``Block``: ``api_url``, ``api_key``, ``name``, ``block_type`` (a slug such as ``aws-credentials``),
  ``data``. Changing ``name`` or ``block_type`` replaces it; ``data`` is updated in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from slipway.cloud.prefect_api import PrefectApi
from slipway.errors import NotFound

POOL_FIELDS = ("description", "base_job_template", "concurrency_limit", "is_paused")
POOL_REPLACE = ("name", "type")
BLOCK_REPLACE = ("name", "block_type")


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (``base_job_template.variables.properties.cpu.default``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out.extend(changed_paths(old[key], new[key], sub))
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True)) for p in changed_paths(a, b, f"{path}[{i}]")]
    return [] if old == new else [path]


def _api(props: Mapping[str, Any]) -> PrefectApi:
    return PrefectApi(str(props["api_url"]), props.get("api_key") or None)


def _pool_outs(props: Mapping[str, Any], pool: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "api_url": props["api_url"], "api_key": props.get("api_key"),
        "name": pool["name"], "type": pool["type"], "description": pool.get("description"),
        "base_job_template": pool.get("base_job_template") or {},
        "concurrency_limit": pool.get("concurrency_limit"), "is_paused": bool(pool.get("is_paused")),
        "pool_id": str(pool["id"]), "default_queue_id": str(pool.get("default_queue_id") or ""),
    }


class WorkPoolProvider(dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        if not news.get("name"):
            failures.append(dynamic.CheckFailure("name", "a work pool needs a name"))
        if not news.get("type"):
            failures.append(dynamic.CheckFailure("type", "a work pool needs a type (ecs, process, ...)"))
        if not str(news.get("api_url", "")).startswith(("http://", "https://")):
            failures.append(dynamic.CheckFailure("api_url", "must be the Prefect API URL (http(s)://.../api)"))
        news.setdefault("description", None)
        news.setdefault("base_job_template", {})
        news.setdefault("concurrency_limit", None)
        news.setdefault("is_paused", False)
        return dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        body = {k: props.get(k) for k in ("name", "type", *POOL_FIELDS)}
        pool = _api(props).create_work_pool(body)
        return dynamic.CreateResult(str(pool["name"]), _pool_outs(props, pool))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        pool = _api(props).get_work_pool(id_)
        if pool is None:  # deleted outside Pulumi: tell the engine it is gone
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, _pool_outs(props, pool))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [k for k in POOL_REPLACE if olds.get(k) != news.get(k)]
        changed = [k for k in POOL_FIELDS if changed_paths(olds.get(k), news.get(k))]
        if olds.get("api_key") != news.get("api_key"):
            changed.append("api_key")
        return dynamic.DiffResult(changes=bool(replaces or changed), replaces=replaces,
                                  stables=["pool_id"] if not replaces else [], delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        patch = {k: news.get(k) for k in POOL_FIELDS if changed_paths(olds.get(k), news.get(k))}
        api = _api(news)
        if patch:
            api.update_work_pool(str(news["name"]), patch)
        pool = api.get_work_pool(str(news["name"]))
        if pool is None:
            raise NotFound(f"Prefect work pool {news['name']!r} disappeared during the update")
        return dynamic.UpdateResult(_pool_outs(news, pool))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).delete_work_pool(id_)


def _block_outs(props: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"api_url": props["api_url"], "api_key": props.get("api_key"), "name": doc["name"],
            "block_type": props["block_type"], "data": props.get("data") or {}, "block_id": str(doc["id"])}


class BlockProvider(dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        doc = _api(props).create_block_document(str(props["name"]), str(props["block_type"]),
                                                dict(props.get("data") or {}))
        return dynamic.CreateResult(str(doc["id"]), _block_outs(props, doc))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        doc = _api(props).get_block_document(id_)
        if doc is None:
            return dynamic.ReadResult(None, {})
        return dynamic.ReadResult(id_, {**_block_outs(props, doc), "data": doc.get("data") or {}})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [k for k in BLOCK_REPLACE if olds.get(k) != news.get(k)]
        changed = bool(changed_paths(olds.get("data"), news.get("data")))
        return dynamic.DiffResult(changes=bool(replaces) or changed, replaces=replaces,
                                  delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        api = _api(news)
        api.update_block_document(id_, dict(news.get("data") or {}))
        doc = api.get_block_document(id_)
        if doc is None:
            raise NotFound(f"Prefect block {news['name']!r} disappeared during the update")
        return dynamic.UpdateResult(_block_outs(news, doc))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).delete_block_document(id_)


class WorkPool(dynamic.Resource, module="prefect", name="WorkPool"):
    """A Prefect work pool managed by Pulumi."""

    name: pulumi.Output[str]
    type: pulumi.Output[str]
    pool_id: pulumi.Output[str]
    base_job_template: pulumi.Output[dict[str, Any]]

    def __init__(self, resource_name: str, *, api_url: pulumi.Input[str], name: pulumi.Input[str],
                 type: pulumi.Input[str], base_job_template: pulumi.Input[dict[str, Any]] | None = None,
                 description: pulumi.Input[str] | None = None, concurrency_limit: pulumi.Input[int] | None = None,
                 is_paused: bool = False, api_key: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"api_url": api_url, "api_key": pulumi.Output.secret(api_key) if api_key is not None else None,
                 "name": name, "type": type, "base_job_template": base_job_template or {},
                 "description": description, "concurrency_limit": concurrency_limit, "is_paused": is_paused,
                 "pool_id": None, "default_queue_id": None}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["api_key"]))
        super().__init__(WorkPoolProvider(), resource_name, props, opts)


class Block(dynamic.Resource, module="prefect", name="Block"):
    """A Prefect block document (e.g. ``aws-credentials``) managed by Pulumi."""

    name: pulumi.Output[str]
    block_id: pulumi.Output[str]

    def __init__(self, resource_name: str, *, api_url: pulumi.Input[str], name: pulumi.Input[str],
                 block_type: pulumi.Input[str], data: pulumi.Input[dict[str, Any]],
                 api_key: pulumi.Input[str] | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"api_url": api_url, "api_key": pulumi.Output.secret(api_key) if api_key is not None else None,
                 "name": name, "block_type": block_type, "data": data, "block_id": None}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["api_key"]))
        super().__init__(BlockProvider(), resource_name, props, opts)

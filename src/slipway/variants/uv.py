"""uv.lock (version 1, revisions 1-3) selection, as ``uv export --frozen`` selects.

The closure starts at the project's own lock entry (``source = { editable|virtual = "." }``):
its ``dependencies``, the ``optional-dependencies`` of the chosen extras and the
``dev-dependencies`` of the chosen groups; every edge's marker is evaluated for the target.
An edge names ``extra = [...]`` to activate extras of the dependency, and ``version``/``source``
when several entries share a name (forks). Conflict markers (``extra == 'extra-8-nanochat-cpu'``,
``group-N-...``) are evaluated against the extras and groups the selection activates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError
from slipway.variants.digest import path_digest
from slipway.variants.markers import Target, evaluate
from slipway.variants.model import Package, Source, norm

_LOCAL = ("editable", "virtual", "directory", "path")
_EDGE = re.compile(r'\{ name = "([^"]+)"')


def conflict_item(kind: str, package: str, name: str) -> str:
    """uv's encoding of a conflict item inside markers: ``extra-<len(package)>-<package>-<name>``."""
    return f"{kind}-{len(package)}-{package}-{name}"


def _key(raw: Mapping[str, Any]) -> tuple[str, str, str]:
    src = raw.get("source", {}) or {}
    return (norm(raw["name"]), str(raw.get("version", "")), repr(sorted(src.items())))


def uv_source(raw: Mapping[str, Any], project: Path) -> Source:
    src = raw.get("source", {}) or {}
    if "registry" in src:
        return Source("registry", str(src["registry"]).rstrip("/"))
    if "git" in src:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(str(src["git"]))
        commit = parts.fragment
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if url.endswith(".git"):
            url = url[:-4]
        return Source("git", url, commit or query.get("rev", ""), query.get("subdirectory", ""))
    if "url" in src:
        hashes = sorted({str(w.get("hash", "")) for w in raw.get("wheels", []) or []}
                        | ({str(raw["sdist"].get("hash", ""))} if isinstance(raw.get("sdist"), dict) else set()))
        hashes = [h for h in hashes if h]
        return Source("url", str(src["url"]), ",".join(hashes), str(src.get("subdirectory", "") or ""))
    for kind in _LOCAL:
        if kind in src:
            rel = str(src[kind])
            return Source("path", rel, path_digest(project, rel))
    raise ValidationError("uv.lock", f"package {raw.get('name')} has an unknown source", got=src)


class _LazyPackages:
    """``name -> [package tables]`` parsed on first use from the lock's ``[[package]]`` blocks.

    A variant usually needs a fraction of a big lock: only the blocks its closure reaches are
    parsed (each through the same reader as the whole file would be).
    """

    def __init__(self, blocks: list[str]) -> None:
        self._blocks: dict[str, list[str]] = {}
        for block in blocks:
            if not block.startswith('name = "'):
                raise ValueError("unexpected package block")
            end = block.index('"', 8)
            self._blocks.setdefault(norm(block[8:end]), []).append(block)
        self._parsed: dict[str, list[Mapping[str, Any]]] = {}
        self.roots = [b for bs in self._blocks.values() for b in bs
                      if 'source = { editable = "." }' in b or 'source = { virtual = "." }' in b]
        self._check_whole(blocks)

    def _check_whole(self, blocks: list[str]) -> None:
        """What uv checks when it reads a lock, for every block (not only the ones a selection
        parses): each has a source, and each dependency edge names a locked package."""
        referenced: set[str] = set()
        for block in blocks:
            if "\nsource = " not in block:
                name = block[8:block.index('"', 8)]
                raise ValidationError("uv.lock", f"has a package {name!r} without a source: the lock is damaged; "
                                      "run `uv lock`")
            referenced.update(_EDGE.findall(block.partition("\n[package.metadata]")[0]))
        missing = referenced - self._blocks.keys()
        if missing:
            missing = {n for n in missing if norm(n) not in self._blocks}
        if missing:
            raise ValidationError("uv.lock", f"refers to {', '.join(sorted(missing)[:5])} which it does not lock: "
                                  "the lock is damaged; run `uv lock`")

    def get(self, name: str, default: list[Mapping[str, Any]] | None = None) -> list[Mapping[str, Any]]:
        got = self._parsed.get(name)
        if got is None:
            got = [parse_block(b) for b in self._blocks.get(name, [])]
            self._parsed[name] = got
        return got or (default if default is not None else [])

    def names(self) -> list[str]:
        return list(self._blocks)


def parse_block(block: str) -> Mapping[str, Any]:
    from slipway.variants.lockfile import fast_parse, parse_toml, parse_uv_package, trim_uv_block

    trimmed = trim_uv_block(block)
    try:
        return parse_uv_package(trimmed)
    except Exception:  # a layout the block reader does not know: the generic readers
        pass
    text = "[[package]]\n" + trimmed
    try:
        data = fast_parse(text)
    except Exception:  # anything the fast reader refuses goes to tomllib
        data = parse_toml(text, "uv.lock")
    pkg: Mapping[str, Any] = data["package"][0]
    return pkg


class UvLock:
    def __init__(self, lock: Mapping[str, Any], project: Path, blocks: list[str] | None = None) -> None:
        self.lock = lock
        self.project = project
        self.by_name: Any
        if blocks is not None:
            lazy = _LazyPackages(blocks)
            self.by_name = lazy
            self._roots = [parse_block(b) for b in lazy.roots]
        else:
            self.by_name = {}
            for p in lock.get("package", []):
                self.by_name.setdefault(norm(p["name"]), []).append(p)
            self._roots = [p for p in lock.get("package", []) if self.is_project(p)]
            for p in lock.get("package", []):
                edges = list(p.get("dependencies", []) or [])
                for table in ("optional-dependencies", "dev-dependencies"):
                    for more in (p.get(table, {}) or {}).values():
                        edges.extend(more)
                for dep in edges:
                    if norm(str(dep.get("name", ""))) not in self.by_name:
                        raise ValidationError("uv.lock", f"refers to {dep.get('name')} which it does not lock: the "
                                              "lock is damaged; run `uv lock`")

    def root(self, name: str | None) -> Mapping[str, Any] | None:
        for p in self._roots:
            if name is None or norm(p["name"]) == norm(name):
                return p
        return None

    def is_project(self, raw: Mapping[str, Any]) -> bool:
        src = raw.get("source", {}) or {}
        return src.get("editable") == "." or src.get("virtual") == "."

    def _find(self, dep: Mapping[str, Any]) -> Mapping[str, Any]:
        name = norm(dep["name"])
        cands: list[Mapping[str, Any]] = self.by_name.get(name, [])
        if len(cands) > 1:
            if "version" in dep:
                cands = [c for c in cands if str(c.get("version", "")) == str(dep["version"])]
            if len(cands) > 1 and "source" in dep:
                cands = [c for c in cands if (c.get("source") or {}) == dep["source"]]
            if len(cands) > 1 and "specifier" in dep:
                from packaging.specifiers import SpecifierSet

                spec = SpecifierSet(str(dep["specifier"]))
                cands = [c for c in cands if spec.contains(str(c.get("version", "")), prereleases=True)]
        if not cands:
            raise ValidationError("uv.lock", f"refers to {name} {dep.get('version', '')} which it does not "
                                  "lock; the lock is damaged: run `uv lock`")
        found: Mapping[str, Any] = cands[0]
        return found

    def workspace_root(self) -> dict[str, Any]:
        """A virtual workspace root (pyproject.toml with no [project]): its members are the roots,
        its groups are ``[manifest.dependency-groups]``, as `uv export` at such a root does."""
        manifest = self.lock.get("manifest", {}) or {}
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for g, specs in (manifest.get("dependency-groups", {}) or {}).items():
            groups[norm(g)] = [{k: v for k, v in spec.items() if k in ("name", "marker", "specifier")}
                               for spec in specs]
        for member in manifest.get("members", []) or []:
            for raw in self.by_name.get(norm(member), []):
                for g, edges in (raw.get("dev-dependencies", {}) or {}).items():
                    groups.setdefault(norm(g), []).extend(edges)
        return {"name": "", "version": "", "source": {"virtual": "."},
                "dependencies": [{"name": m} for m in manifest.get("members", []) or []],
                "dev-dependencies": groups}

    def check_conflicts(self, root: Mapping[str, Any], groups: set[str], extras: set[str]) -> None:
        """uv refuses a selection holding two items of one declared conflict set; so do we."""
        rname = norm(root["name"])
        chosen = {("extra", e) for e in extras} | {("group", g) for g in groups}
        for conflict in self.lock.get("conflicts", []) or []:
            hit = []
            for item in conflict:
                if norm(str(item.get("package", rname))) != rname:
                    continue
                for kind in ("extra", "group"):
                    if kind in item and (kind, norm(str(item[kind]))) in chosen:
                        hit.append(f"{kind} {item[kind]}")
            if len(hit) > 1:
                raise ValidationError("extras" if any(h.startswith("extra") for h in hit) else "groups",
                                      f"{' and '.join(hit)} are declared as conflicting in uv.lock: a variant "
                                      "may hold only one of them")

    def select(self, root: Mapping[str, Any], groups: set[str], extras: set[str],
               target: Target) -> list[Mapping[str, Any]]:
        self.check_conflicts(root, groups, extras)
        rname = norm(root["name"])
        active = frozenset({conflict_item("extra", rname, e) for e in extras}
                           | {conflict_item("group", rname, g) for g in groups}
                           | {conflict_item("project", rname, "")})
        edges: list[Mapping[str, Any]] = list(root.get("dependencies", []) or [])
        opt = root.get("optional-dependencies", {}) or {}
        dev = root.get("dev-dependencies", {}) or {}
        opt_n = {norm(k): v for k, v in opt.items()}
        dev_n = {norm(k): v for k, v in dev.items()}
        for e in sorted(extras):
            edges.extend(opt_n.get(e, []))
        for g in sorted(groups):
            edges.extend(dev_n.get(g, []))
        chosen: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        root_key = _key(root)
        done: set[tuple[tuple[str, str, str], str]] = {(root_key, "")}
        done |= {(root_key, e) for e in extras}
        while edges:
            dep = edges.pop()
            if not evaluate(dep.get("marker"), target, active):
                continue
            pkg = self._find(dep)
            key = _key(pkg)
            todo: list[tuple[str, list[Mapping[str, Any]]]] = []
            if (key, "") not in done:
                done.add((key, ""))
                todo.append(("", list(pkg.get("dependencies", []) or [])))
            popt = {norm(k): v for k, v in (pkg.get("optional-dependencies", {}) or {}).items()}
            for extra in dep.get("extra", []) or []:
                ce = norm(extra)
                if (key, ce) not in done:
                    done.add((key, ce))
                    todo.append((ce, list(popt.get(ce, []))))
            if key != root_key:  # the project is never its own package (also when reached back through an
                chosen[key] = pkg  # extra or a group: the lazy reader parses its block again)
            for _, deps in todo:
                edges.extend(deps)
        return list(chosen.values())

    def to_package(self, raw: Mapping[str, Any]) -> Package:
        return Package(norm(raw["name"]), str(raw.get("version", "")), uv_source(raw, self.project))

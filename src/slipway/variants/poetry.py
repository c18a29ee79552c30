"""poetry.lock (1.1, 2.0, 2.1) selection, as ``poetry export`` (poetry-plugin-export) selects.

Lock 2.1 records, per package, the groups that need it and a marker per group: the selection is
every package with a selected group whose marker holds for the target and the chosen extras.
Older locks carry no such data: the selection walks the closure from the project's own
requirements (pyproject.toml), evaluating every marker for the target, honouring extras and
picking among several locked versions of one name by constraint and Python range.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from slipway.errors import ValidationError
from slipway.variants.constraints import allows, pep440
from slipway.variants.digest import path_digest
from slipway.variants.markers import Target, evaluate
from slipway.variants.model import PYPI, Package, Source, norm

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _name_of(spec: str) -> str:
    m = _NAME.match(spec)
    return norm(m.group(1)) if m else norm(spec)


_ENTRY = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(?:\(([^)]*)\)|([^;]*))")


class ExtraEntry(NamedTuple):
    """One entry of a locked package's ``[package.extras]``: ``name[features] (constraint)``."""

    name: str
    features: frozenset[str]
    constraint: str


def _entry(spec: str) -> ExtraEntry:
    m = _ENTRY.match(spec)
    if not m:
        return ExtraEntry(norm(spec), frozenset(), "*")
    feats = frozenset(norm(f) for f in (m.group(2) or "").split(",") if f.strip())
    return ExtraEntry(norm(m.group(1)), feats, (m.group(3) or m.group(4) or "").strip() or "*")


Bound = tuple[Any, bool, str]  # (Version, inclusive, how poetry-core stores it: "raw" or "canon")


def _ranges(constraint: str) -> frozenset[tuple[Bound | None, Bound | None]] | None:
    """A constraint as poetry-core 2.5 stores it: a union of ranges. ``<V`` (V a final release) is
    canonicalised to exclude V's pre-releases too, while the two pieces of ``!=V`` meet at V itself,
    so ``<V || >V`` and ``!=V`` differ. ``None`` for what this does not model (``^``, ``~=``, ``*``)."""
    from packaging.version import InvalidVersion, Version

    def lower(a: Bound | None, b: Bound) -> Bound:
        if a is None or b[0] > a[0] or (b[0] == a[0] and not b[1]):
            return b
        return a

    def upper(a: Bound | None, b: Bound) -> Bound:
        if a is None or b[0] < a[0] or (b[0] == a[0] and not b[1]):
            return b
        return a

    out: set[tuple[Bound | None, Bound | None]] = set()
    for alt in constraint.split("||"):
        pieces: list[tuple[Bound | None, Bound | None]] = [(None, None)]
        terms: list[str] = []
        for term in re.split(r"\s*,\s*|\s+(?=[<>=!^~])", alt.strip()):
            term = term.replace(" ", "")
            if term.startswith(("^", "~")) and not term.startswith("~="):
                terms.extend(pep440(term).split(","))  # ^1.2 -> >=1.2,<2: as poetry-core expands it
            else:
                terms.append(term)
        for term in terms:
            if term in ("", "*"):
                continue
            m = re.fullmatch(r"(>=|<=|==|!=|>|<|=)?([0-9][0-9A-Za-z.+!-]*)", term)
            if not m:
                return None
            op = m.group(1) or "=="
            try:
                v = Version(m.group(2))
            except InvalidVersion:
                return None
            if op == "!=":
                pieces = [q for lo, hi in pieces for q in ((lo, upper(hi, (v, False, "raw"))),
                                                           (lower(lo, (v, False, "raw")), hi))]
            elif op in (">=", ">"):
                pieces = [(lower(lo, (v, op == ">=", "raw")), hi) for lo, hi in pieces]
            elif op in ("<=", "<"):
                tag = "canon" if op == "<" and not (v.is_prerelease or v.is_devrelease) else "raw"
                pieces = [(lo, upper(hi, (v, op == "<=", tag))) for lo, hi in pieces]
            else:
                pieces = [(lower(lo, (v, True, "raw")), upper(hi, (v, True, "raw"))) for lo, hi in pieces]
        for lo, hi in pieces:
            if lo is not None and hi is not None and (lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1]))):
                continue  # empty
            out.add((lo, hi))
    return frozenset(out)


def _terms(constraint: str) -> tuple[tuple[str, ...], ...]:
    """Fallback comparison key: alternatives of sorted terms, spaces dropped."""
    return tuple(sorted(tuple(sorted(t.replace(" ", "") for t in re.split(r"\s*,\s*", alt.strip()) if t.strip()))
                        for alt in constraint.split("||")))


def same_requirement(dep: Req, entry: ExtraEntry) -> bool:
    """Whether a locked package's optional dependency is the one its extra lists (poetry-core's
    ``Dependency.__eq__``: name, features and constraint). poetry-core 2.5 no longer equates a
    constraint the lock spells ``>=1,<1.5 || >1.5`` with the extra's ``>=1,!=1.5``, so such an
    optional dependency is not followed through the extra (poetry-plugin-export 1.10.1 drops it)."""
    if dep.name != entry.name or dep.extras != entry.features:
        return False
    if dep.url or dep.git or dep.path:
        return True  # a direct origin: the constraint is implicit
    mine, theirs = _ranges(dep.constraint), _ranges(entry.constraint)
    if mine is None or theirs is None:
        return _terms(dep.constraint) == _terms(entry.constraint)
    return mine == theirs


class Req:
    """A requirement: the project's (pyproject.toml) or a locked package's (its dependencies)."""

    __slots__ = ("constraint", "extras", "git", "marker", "name", "optional", "path", "python", "url")

    def __init__(self, name: str, constraint: str = "*", marker: str = "", python: str = "",
                 extras: frozenset[str] = frozenset(), optional: bool = False, url: str = "", git: str = "",
                 path: str = "") -> None:
        self.name, self.constraint, self.marker, self.python = name, constraint, marker, python
        self.extras, self.optional, self.url, self.git, self.path = extras, optional, url, git, path

    def __repr__(self) -> str:
        return f"Req({self.name!r}, {self.constraint!r}, marker={self.marker!r})"


class Locked:
    """One ``[[package]]`` of a poetry.lock (compared by identity: a lock may list a name twice)."""

    __slots__ = ("extras", "groups", "markers", "name", "optional", "python", "raw_source", "requires", "version")

    def __init__(self, name: str, version: str, optional: bool, python: str, raw_source: Mapping[str, Any]) -> None:
        self.name, self.version, self.optional, self.python, self.raw_source = name, version, optional, python, raw_source
        self.requires: list[Req] = []
        self.extras: dict[str, list[ExtraEntry]] = {}
        self.groups: tuple[str, ...] = ("main",)
        self.markers: dict[str, str] | str | None = None

    def __repr__(self) -> str:
        return f"Locked({self.name!r}, {self.version!r})"


def _reqs(name: str, value: Any) -> list[Req]:
    n = norm(name)
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Req(n, item))
            continue
        if not isinstance(item, dict):
            continue
        marker = str(item.get("markers", "") or "")
        platform = item.get("platform")
        if platform:
            pm = f'sys_platform == "{platform}"'
            marker = f"({marker}) and {pm}" if marker else pm
        out.append(Req(n, str(item.get("version", "*") or "*"), marker, str(item.get("python", "") or ""),
                       frozenset(norm(e) for e in item.get("extras", []) or []),
                       bool(item.get("optional", False)), str(item.get("url", "") or ""),
                       str(item.get("git", "") or ""), str(item.get("path", "") or "")))
    return out


def parse_packages(lock: Mapping[str, Any]) -> list[Locked]:
    out = []
    for raw in lock.get("package", []):
        pkg = Locked(norm(raw["name"]), str(raw["version"]), bool(raw.get("optional", False)),
                     str(raw.get("python-versions", "*") or "*"), raw.get("source", {}) or {})
        for dep, value in (raw.get("dependencies") or {}).items():
            pkg.requires.extend(_reqs(dep, value))
        for extra, specs in (raw.get("extras") or {}).items():
            pkg.extras[norm(extra)] = [_entry(s) for s in specs]
        if "groups" in raw:
            pkg.groups = tuple(raw["groups"])
        pkg.markers = raw.get("markers")
        out.append(pkg)
    return out


def _git_url(url: str) -> str:
    return url[:-4] if url.endswith(".git") else url


def _file_hash(raw: Mapping[str, Any], lock: Mapping[str, Any], name: str) -> str:
    files = raw.get("files")
    if files is None:
        files = (lock.get("metadata", {}).get("files", {}) or {}).get(name, [])
    hashes = sorted(str(f.get("hash", "")) for f in files or [] if isinstance(f, dict))
    if len(hashes) == 1:
        return hashes[0]
    return ("sha256:" + hashlib.sha256(json.dumps(hashes).encode()).hexdigest()) if hashes else ""


def source_of(pkg: Locked, lock: Mapping[str, Any], project: Path, raw: Mapping[str, Any]) -> Source:
    src = pkg.raw_source
    kind = str(src.get("type", "") or "")
    url = str(src.get("url", "") or "")
    if not kind:
        return Source("registry", PYPI)
    if kind == "legacy":
        return Source("registry", url.rstrip("/"))
    if kind == "git":
        commit = str(src.get("resolved_reference") or src.get("reference") or "")
        return Source("git", _git_url(url), commit, str(src.get("subdirectory", "") or ""))
    if kind == "url":
        return Source("url", url, _file_hash(raw, lock, pkg.name))
    if kind in ("directory", "file"):
        return Source("path", url, path_digest(project, url))
    return Source(kind, url)


def _same_source(req: Req, pkg: Locked) -> bool:
    src = pkg.raw_source
    if req.url:
        return src.get("type") == "url" and src.get("url") == req.url
    if req.git:
        return src.get("type") == "git" and _git_url(str(src.get("url", ""))) == _git_url(req.git)
    if req.path:
        return src.get("type") in ("directory", "file")
    return True


def _python_ok(constraint: str, target: Target) -> bool:
    return allows(constraint, target.env["python_full_version"]) if constraint and constraint != "*" else True


class PoetryLock:
    def __init__(self, lock: Mapping[str, Any], project: Path) -> None:
        self.lock = lock
        self.project = project
        self.packages = parse_packages(lock)
        self._raw = {id(p): r for p, r in zip(self.packages, lock.get("package", []), strict=True)}
        self.by_name: dict[str, list[Locked]] = {}
        for p in self.packages:
            self.by_name.setdefault(p.name, []).append(p)
        self.version = str(lock.get("metadata", {}).get("lock-version", "1.0"))

    @property
    def per_group_markers(self) -> bool:
        try:
            major, minor = (int(x) for x in self.version.split(".")[:2])
        except ValueError:
            return False
        return (major, minor) >= (2, 1)

    def to_package(self, pkg: Locked) -> Package:
        return Package(pkg.name, pkg.version, source_of(pkg, self.lock, self.project, self._raw[id(pkg)]))

    # -- lock 2.1 ------------------------------------------------------------------------
    def select_marked(self, groups: set[str], extras: frozenset[str], target: Target,
                      root_name: str = "") -> list[Locked]:
        out = []
        for pkg in self.packages:
            mine = {norm(g) for g in pkg.groups} & groups
            if not mine:
                continue
            markers = pkg.markers
            if markers is None or isinstance(markers, str):
                texts = [markers or ""]
            else:
                by_group = {norm(g): m for g, m in markers.items()}
                texts = [by_group.get(g, "") for g in mine]
            # As poetry-plugin-export 1.10: marker.apply({"extra": extras}) puts the selected extras into
            # the marker, what is left decides for the target. So `extra == "x" or <env marker>` holds
            # with x selected, whatever the environment (1.9 stripped the extras and dropped it).
            if any(evaluate(t, target, extras) for t in texts):
                out.append(pkg)
        self.check_references(out, target, root_name)
        return out

    def check_references(self, selected: list[Locked], target: Target, root_name: str) -> None:
        """Every package a selected package requires for the target is locked (poetry locks every
        requirement that can apply within the project's Python range): a lock cut short is refused."""
        for pkg in selected:
            for dep in pkg.requires:
                if dep.name in self.by_name or dep.name == root_name or dep.optional or "extra" in dep.marker:
                    continue
                if dep.python and not _python_ok(dep.python, target):
                    continue
                if not evaluate(dep.marker, target, None):
                    continue
                raise ValidationError("poetry.lock", f"has no locked package for {dep.name}, which {pkg.name} "
                                      f"{pkg.version} requires: the lock is damaged; run `poetry lock`")

    # -- older locks: walk from the project's requirements -------------------------------
    def _extra_names(self, extras: frozenset[str]) -> set[str]:
        locked_extras = {norm(k): [_name_of(s) for s in v]
                         for k, v in (self.lock.get("extras") or {}).items()}
        stack = [n for e in extras for n in locked_extras.get(e, [])]
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            cands = self.by_name.get(name)
            if not cands or name in seen:
                continue
            seen.add(name)
            stack.extend(r.name for r in cands[-1].requires)
        return seen

    def _choose(self, req: Req, target: Target, decided: dict[str, Locked]) -> Locked | None:
        cands = sorted(self.by_name.get(req.name, []), key=lambda p: _vkey(p.version), reverse=True)
        compatible = [p for p in cands if allows(req.constraint, p.version) and _python_ok(p.python, target)
                      and _same_source(req, p)]
        prior = decided.get(req.name)
        if prior is not None and prior in compatible:
            return prior
        if compatible:
            return compatible[0]
        if len(cands) == 1 and not (req.url or req.git):
            return cands[0]
        return None

    def select_walk(self, roots: Iterable[Req], root_name: str, extras: frozenset[str],
                    target: Target) -> list[Locked]:
        extra_names = self._extra_names(extras)
        queue: list[Req] = []
        for req in roots:
            if req.python and not _python_ok(req.python, target):
                continue
            if not evaluate(req.marker, target, extras):
                continue
            cands = self.by_name.get(req.name)
            if not cands:
                continue
            if cands[0].optional and req.name not in extra_names:
                continue
            queue.append(req)
        decided: dict[str, Locked] = {}
        chosen: dict[int, Locked] = {}
        seen: set[tuple[str, str, str, frozenset[str], str]] = set()
        while queue:
            req = queue.pop(0)
            key = (req.name, req.constraint, req.url or req.git or req.path, req.extras, req.python)
            if key in seen or req.name == root_name:
                continue
            seen.add(key)
            pkg = self._choose(req, target, decided)
            if pkg is None:
                raise ValidationError("poetry.lock", f"has no locked package for {req.name} {req.constraint}; "
                                      "the lock does not match pyproject.toml: run `poetry lock`")
            decided.setdefault(pkg.name, pkg)
            chosen[id(pkg)] = pkg
            for dep in pkg.requires:
                if dep.optional and not any(same_requirement(dep, e) for f in req.extras
                                            for e in pkg.extras.get(f, ())):
                    continue
                if dep.python and not _python_ok(dep.python, target):
                    continue
                if not evaluate(dep.marker, target, None):
                    continue
                queue.append(dep)
        return list(chosen.values())


def _vkey(version: str) -> Any:
    from packaging.version import InvalidVersion, Version
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def root_requirements(pyproject: Mapping[str, Any], groups: set[str]) -> list[Req]:
    """The project's own requirements in ``groups`` (poetry's ``with_dependency_groups(only=True)``)."""
    tool = pyproject.get("tool", {}).get("poetry", {})
    project = pyproject.get("project", {})
    out: list[Req] = []
    if "main" in groups:
        poetry_main = {norm(k): v for k, v in (tool.get("dependencies") or {}).items()
                       if k.lower() != "python"}
        pep621 = project.get("dependencies")
        if pep621 is not None:
            for spec in pep621:
                out.extend(_pep508(spec, poetry_main))
            for specs in (project.get("optional-dependencies") or {}).values():
                for spec in specs:
                    for r in _pep508(spec, poetry_main):
                        r.optional = True
                        out.append(r)
        else:
            for name, value in poetry_main.items():
                out.extend(_reqs(name, value))
    legacy_dev = tool.get("dev-dependencies")
    if legacy_dev and "dev" in groups:
        for name, value in legacy_dev.items():
            out.extend(_reqs(name, value))
    for gname, gdata in (tool.get("group") or {}).items():
        if norm(gname) in groups:
            for name, value in (gdata.get("dependencies") or {}).items():
                out.extend(_reqs(name, value))
    for gname, specs in (pyproject.get("dependency-groups") or {}).items():
        if norm(gname) in groups:
            for spec in specs:
                if isinstance(spec, str):
                    out.extend(_pep508(spec, {}))
    return out


def _pep508(spec: str, overrides: Mapping[str, Any]) -> list[Req]:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        r = Requirement(spec)
    except InvalidRequirement as exc:
        raise ValidationError("project.dependencies", f"has an invalid requirement {spec!r}: {exc}") from None
    name = norm(r.name)
    req = Req(name, str(r.specifier) or "*", str(r.marker) if r.marker else "",
              extras=frozenset(norm(e) for e in r.extras), url=r.url or "")
    extra_over = overrides.get(name)
    if isinstance(extra_over, dict):
        req.git = str(extra_over.get("git", "") or "")
        req.path = str(extra_over.get("path", "") or "")
    return [req]

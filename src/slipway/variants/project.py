"""A user's project: pyproject.toml + its lock, the declared variants, and their selections.

Variants live in ``[tool.slipway.variants.<name>]`` with ``groups``, ``extras`` and ``extends``
(a name or a list). ``base`` (the main dependencies) always exists. The ``exp`` group never counts
in any variant: it is installed at container start (see images/variant/entrypoint.sh).
Target defaults come from ``[tool.slipway]`` (``python``, ``machine``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from slipway.errors import ValidationError
from slipway.variants.constraints import allows
from slipway.variants.lockfile import check_structure, load_lock, load_uv_lazily, parse_toml, read_text
from slipway.variants.markers import Target
from slipway.variants.model import Selection, norm
from slipway.variants.poetry import PoetryLock, root_requirements
from slipway.variants.uv import UvLock

if TYPE_CHECKING:
    from packaging.requirements import Requirement

EXP = "exp"
BASE = "base"


class Variant(NamedTuple):
    name: str
    groups: tuple[str, ...]
    extras: tuple[str, ...]


class Project:
    """Read once; select many times (variants x targets)."""

    def __init__(self, directory: Path | str, *, check_lock: bool = True) -> None:
        self.dir = Path(directory)
        pyproject_path = self.dir / "pyproject.toml"
        if not pyproject_path.is_file():
            raise ValidationError("project", "has no pyproject.toml", got=str(self.dir))
        self.pyproject = parse_toml(read_text(pyproject_path), "pyproject.toml")
        poetry_lock, uv_lock = self.dir / "poetry.lock", self.dir / "uv.lock"
        if uv_lock.is_file() and (not poetry_lock.is_file() or "poetry" not in self.pyproject.get("tool", {})):
            self.kind = "uv"
            self.lock_path = uv_lock
        elif poetry_lock.is_file():
            self.kind = "poetry"
            self.lock_path = poetry_lock
        else:
            raise ValidationError("project", "has neither poetry.lock nor uv.lock next to pyproject.toml",
                                  got=str(self.dir))
        # the whole lock is checked before any of it is read lazily (a lock cut short is refused)
        text = read_text(self.lock_path)
        check_structure(text, self.lock_path.name)
        lazy = load_uv_lazily(text) if self.kind == "uv" else None
        self.lock = lazy[0] if lazy else load_lock(self.lock_path, self.kind, text)
        self.poetry = PoetryLock(self.lock, self.dir) if self.kind == "poetry" else None
        self.uv = None
        if self.kind == "uv":
            try:
                self.uv = UvLock(self.lock, self.dir, lazy[1] if lazy else None)
            except ValueError:
                self.lock = load_lock(self.lock_path, self.kind, text)
                self.uv = UvLock(self.lock, self.dir)
        self._check_lock_format()
        if check_lock:
            self.check_lock()

    def _check_lock_format(self) -> None:
        """The lock is one the tools wrote: poetry's ``[metadata]`` (poetry refuses a lock without
        it), uv's ``version = 1``; uv.lock package references are checked by :class:`UvLock`."""
        if self.kind == "poetry":
            meta = self.lock.get("metadata")
            if not isinstance(meta, dict) or not meta.get("content-hash"):
                raise ValidationError("poetry.lock", "has no [metadata] table with a content-hash: the file is "
                                      "damaged or was not written by poetry; run `poetry lock`")
            return
        version = self.lock.get("version")
        if version != 1:
            raise ValidationError("uv.lock", "is not a uv.lock of version 1: the file is damaged or was written "
                                  "by a uv this Slipway does not read", allowed=["1"], got=version)

    # -- names --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        name = self.pyproject.get("project", {}).get("name") or \
            self.pyproject.get("tool", {}).get("poetry", {}).get("name") or ""
        return norm(str(name))

    def groups(self) -> list[str]:
        tool = self.pyproject.get("tool", {})
        names = set(norm(g) for g in self.pyproject.get("dependency-groups", {}) or {})
        if self.kind == "poetry":
            names |= {norm(g) for g in tool.get("poetry", {}).get("group", {}) or {}}
            if tool.get("poetry", {}).get("dev-dependencies"):
                names.add("dev")
        else:
            if tool.get("uv", {}).get("dev-dependencies"):
                names.add("dev")
            root = self._uv_root()
            if root is not None:
                names |= {norm(g) for g in root.get("dev-dependencies", {}) or {}}
        return sorted(names)

    def extras(self) -> list[str]:
        names = {norm(e) for e in self.pyproject.get("project", {}).get("optional-dependencies", {}) or {}}
        names |= {norm(e) for e in self.pyproject.get("tool", {}).get("poetry", {}).get("extras", {}) or {}}
        return sorted(names)

    def _uv_root(self) -> Mapping[str, Any] | None:
        return self.uv.root(self.name or None) if self.uv else None

    # -- lock freshness -----------------------------------------------------------------
    def check_lock(self) -> None:
        if self.kind == "poetry":
            self._check_poetry_hash()
        else:
            self._check_uv_metadata()

    def _check_poetry_hash(self) -> None:
        meta = self.lock.get("metadata", {})
        recorded = meta.get("content-hash")
        if not recorded:
            return
        if recorded not in poetry_content_hashes(self.pyproject):
            raise ValidationError("poetry.lock", "is not consistent with pyproject.toml (its content-hash "
                                  "differs, as `poetry check --lock` reports): run `poetry lock`")

    def _check_uv_metadata(self) -> None:
        project = self.pyproject.get("project")
        if project is None:
            self._check_uv_virtual_root()
            return
        if not isinstance(project, dict) or not project.get("name"):
            raise ValidationError("pyproject.toml", "has a [project] table without a name")
        root = self._uv_root()
        if root is None:
            raise ValidationError("uv.lock", f"does not lock the project {self.name!r} of pyproject.toml: "
                                  "run `uv lock`")
        if "dependencies" in (project.get("dynamic") or []):
            return  # requirements computed at build time: nothing static to compare
        meta = root.get("metadata", {}) or {}
        if "requires-dist" not in meta and not project.get("dependencies") and not project.get("optional-dependencies"):
            return
        specs = list(project.get("dependencies", []) or [])
        for extra_specs in (project.get("optional-dependencies", {}) or {}).values():
            specs.extend(extra_specs)
        have_quick = {_quick_lock_key(r) for r in meta.get("requires-dist", []) or []}
        if {_quick_key(s) for s in specs} == have_quick:
            return
        want = {_norm_req(s) for s in specs}
        have = {_norm_lock_req(r) for r in meta.get("requires-dist", []) or []}
        if want != have:
            missing = sorted(want - have)[:5]
            extra = sorted(have - want)[:5]
            raise ValidationError("uv.lock", "is not consistent with pyproject.toml: the lock's requirements "
                                  f"differ (pyproject only: {missing}; lock only: {extra}): run `uv lock`")

    def _check_uv_virtual_root(self) -> None:
        """A pyproject.toml without [project] beside a uv.lock: only a virtual workspace root (or a
        dependency-groups-only project), and only for a lock that locks no project of its own."""
        tool_uv = self.pyproject.get("tool", {}).get("uv", {}) or {}
        if "workspace" not in tool_uv and "dependency-groups" not in self.pyproject:
            raise ValidationError("pyproject.toml", "has no [project] table (nor [tool.uv.workspace] or "
                                  "[dependency-groups]): it is not the project uv.lock was made for")
        own = self.uv.root(None) if self.uv else None
        if own is not None:
            raise ValidationError("uv.lock", f"locks the project {str(own.get('name'))!r}, but pyproject.toml "
                                  "has no [project] table: the lock does not belong to it; run `uv lock`")

    # -- variants -----------------------------------------------------------------------
    def declared(self) -> dict[str, dict[str, Any]]:
        raw = self.pyproject.get("tool", {}).get("slipway", {}).get("variants", {}) or {}
        if not isinstance(raw, dict):
            raise ValidationError("tool.slipway.variants", "must be a table of variant tables")
        out = {str(k): v for k, v in raw.items()}
        for k, v in out.items():
            if not isinstance(v, dict):
                raise ValidationError(f"tool.slipway.variants.{k}", "must be a table with groups, extras, extends")
            unknown = set(v) - {"groups", "extras", "extends"}
            if unknown:
                raise ValidationError(f"tool.slipway.variants.{k}", f"has unknown keys {sorted(unknown)}",
                                      allowed=["groups", "extras", "extends"])
        out.setdefault(BASE, {})
        return out

    def variants(self) -> dict[str, Variant]:
        declared = self.declared()
        resolved: dict[str, Variant] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> Variant:
            if name in resolved:
                return resolved[name]
            if name in chain:
                raise ValidationError(f"tool.slipway.variants.{chain[0]}.extends",
                                      "forms a cycle: " + " -> ".join((*chain, name)))
            if name not in declared:
                field = f"tool.slipway.variants.{chain[-1]}.extends" if chain else "variant"
                raise ValidationError(field, f"names an unknown variant {name!r}", allowed=sorted(declared))
            spec = declared[name]
            parents = spec.get("extends", [])
            parents = [parents] if isinstance(parents, str) else list(parents)
            groups: set[str] = set()
            extras: set[str] = set()
            for parent in parents:
                pv = resolve(str(parent), (*chain, name))
                groups |= set(pv.groups)
                extras |= set(pv.extras)
            groups |= set(self._check_names(spec.get("groups", []), f"tool.slipway.variants.{name}.groups",
                                            self.groups(), "group"))
            extras |= set(self._check_names(spec.get("extras", []), f"tool.slipway.variants.{name}.extras",
                                            self.extras(), "extra"))
            v = Variant(name, tuple(sorted(groups)), tuple(sorted(extras)))
            resolved[name] = v
            return v

        for name in sorted(declared):
            resolve(name, ())
        return dict(sorted(resolved.items()))

    def _check_names(self, value: Any, field: str, known: Sequence[str], what: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError(field, "must be a list of names", got=value)
        out = []
        for v in value:
            n = norm(v)
            if what == "group" and n == EXP:
                raise ValidationError(field, "may not list the exp group: it is installed at container "
                                      "start and never baked into an image")
            if what == "group" and n == "main":
                continue
            if n not in known:
                raise ValidationError(field, f"names an unknown {what} {v!r}", allowed=[k for k in known if k != EXP])
            out.append(n)
        return out

    def target(self, python: str | None = None, machine: str | None = None) -> Target:
        cfg = self.pyproject.get("tool", {}).get("slipway", {}) or {}
        return Target(python=str(python or cfg.get("python") or "3.12"),
                      machine=str(machine or cfg.get("machine") or "x86_64"))

    def variant(self, name: str) -> Variant:
        variants = self.variants()
        if name not in variants:
            raise ValidationError("variant", f"unknown variant {name!r}", allowed=sorted(variants))
        return variants[name]

    # -- selection ----------------------------------------------------------------------
    def select(self, groups: Sequence[str] = (), extras: Sequence[str] = (),
               target: Target | None = None, *, include_main: bool = True) -> Selection:
        target = target or self.target()
        g = self._check_names(list(groups), "groups", self.groups(), "group")
        if any(norm(x) == EXP for x in groups):  # pragma: no cover - _check_names refuses it
            raise ValidationError("groups", "may not include exp")
        e = self._check_names(list(extras), "extras", self.extras(), "extra")
        self._check_python(target)
        if self.poetry is not None:
            sel_groups = set(g) | ({"main"} if include_main else set())
            if self.poetry.per_group_markers:
                locked = self.poetry.select_marked(sel_groups, frozenset(e), target, self.name)
            else:
                roots = root_requirements(self.pyproject, sel_groups)
                locked = self.poetry.select_walk(roots, self.name, frozenset(e), target)
            pkgs = {self.poetry.to_package(p) for p in locked}
        else:
            assert self.uv is not None
            root = self._uv_root()
            if root is None and "project" not in self.pyproject:
                root = self.uv.workspace_root()
            if root is None:
                raise ValidationError("uv.lock", f"has no entry for the project {self.name!r}: run `uv lock`")
            raws = self.uv.select(root, set(g), set(e), target)
            pkgs = {self.uv.to_package(r) for r in raws}
        return Selection(tuple(sorted(pkgs)), tuple(sorted(g)), tuple(sorted(e)), self.kind)

    def select_variant(self, name: str, target: Target | None = None) -> Selection:
        v = self.variant(name)
        return self.select(v.groups, v.extras, target)

    def requires_python(self) -> str:
        proj = self.pyproject.get("project", {}).get("requires-python")
        if proj:
            return str(proj)
        tool = self.pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
        py = tool.get("python")
        if isinstance(py, str):
            return py
        if self.kind == "uv":
            return str(self.lock.get("requires-python", ""))
        return ""

    def _check_python(self, target: Target) -> None:
        rp = self.requires_python()
        if rp and not allows(rp, target.env["python_full_version"]):
            raise ValidationError("python", f"target Python {target.python} is outside the project's "
                                  f"requires-python {rp!r}", got=target.python)

    def exp_requirements(self) -> list[str]:
        """The ``exp`` group's requirement strings (installed at container start, never hashed)."""
        tool = self.pyproject.get("tool", {})
        out: list[str] = []
        for spec in (self.pyproject.get("dependency-groups", {}) or {}).get(EXP, []) or []:
            if isinstance(spec, str):
                out.append(spec)
        grp = (tool.get("poetry", {}).get("group", {}) or {}).get(EXP, {}) or {}
        for name, value in (grp.get("dependencies", {}) or {}).items():
            out.append(_poetry_to_pep508(name, value))
        return out


def _poetry_to_pep508(name: str, value: Any) -> str:
    if isinstance(value, str):
        from slipway.variants.constraints import pep440
        return f"{name}{pep440(value)}"
    if isinstance(value, dict) and "version" in value:
        return _poetry_to_pep508(name, value["version"])
    return name


_QUICK = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*([^;@]*)")


def _spec_key(spec: str) -> str:
    return ",".join(sorted(p.replace(" ", "") for p in spec.split(",") if p.strip()))


def _quick_key(spec: str) -> tuple[str, str, str]:
    m = _QUICK.match(spec)
    if not m:
        return ("", "", spec)
    extras = ",".join(sorted(norm(e.strip()) for e in (m.group(2) or "").split(",") if e.strip()))
    return (norm(m.group(1)), extras, _spec_key(m.group(3)))


def _quick_lock_key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    extras = ",".join(sorted(norm(e) for e in entry.get("extras", []) or []))
    return (norm(str(entry.get("name", ""))), extras, _spec_key(str(entry.get("specifier", "") or "")))


def _norm_req(spec: str, extra: str | None = None) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        r = Requirement(spec)
    except InvalidRequirement as exc:
        raise ValidationError("project.dependencies", f"has an invalid requirement {spec!r}: {exc}") from None
    return _req_key(r, extra)


def _req_key(r: Requirement, extra: str | None) -> str:
    # markers and direct URLs are left out: uv rewrites them from [tool.uv.sources]
    return json.dumps([norm(r.name), sorted(norm(e) for e in r.extras),
                       str(r.specifier)])


def _norm_lock_req(entry: Mapping[str, Any]) -> str:
    name = norm(str(entry.get("name", "")))
    extras = sorted(norm(e) for e in entry.get("extras", []) or [])
    spec = str(entry.get("specifier", "") or "")
    try:
        from packaging.specifiers import SpecifierSet
        spec = str(SpecifierSet(spec))
    except Exception:
        pass
    return json.dumps([name, extras, spec])


def poetry_content_hashes(pyproject: Mapping[str, Any]) -> set[str]:
    """The content-hash values poetry versions in use write for this pyproject (see poetry's Locker)."""
    project = pyproject.get("project", {}) or {}
    tool = pyproject.get("tool", {}).get("poetry", {}) or {}
    groups = pyproject.get("dependency-groups")
    rel_project = {k: project[k] for k in ("requires-python", "dependencies", "optional-dependencies")
                   if project.get(k) is not None}
    legacy = ["dependencies", "source", "extras", "dev-dependencies"]
    rel_poetry: dict[str, Any] = {}
    for key in [*legacy, "group"]:
        data = tool.get(key)
        if data is None and (key not in legacy or rel_project):
            continue
        rel_poetry[key] = data
    candidates: list[Any] = []
    if rel_project:
        content: dict[str, Any] = {"project": rel_project, "tool": {"poetry": rel_poetry}}
        candidates.append(content)
        if groups:
            candidates.append({**content, "dependency-groups": groups})
    else:
        candidates.append(rel_poetry)
        candidates.append({k: tool.get(k) for k in legacy})  # poetry 1.1: no groups
        if groups:
            candidates.append({**rel_poetry, "dependency-groups": groups})
    return {hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest() for c in candidates}

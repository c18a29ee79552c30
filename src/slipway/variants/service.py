"""What the faces call: every variant's hash and package list; the hashes file check/write."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from slipway.errors import ValidationError
from slipway.variants.hashing import (
    HASHES_FILE,
    hashes_document,
    read_hashes_file,
    render_hashes_file,
    variant_hash,
)
from slipway.variants.markers import Target
from slipway.variants.model import Package, Selection
from slipway.variants.project import Project, Variant


class VariantResult(NamedTuple):
    variant: Variant
    hash: str
    packages: tuple[Package, ...]
    target: Target

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.variant.name, "hash": self.hash, "groups": list(self.variant.groups),
                "extras": list(self.variant.extras), "target": self.target.canonical(),
                "packages": [p.as_dict() for p in self.packages]}


def compute(project_dir: Path | str, *, python: str | None = None, machine: str | None = None,
            variants: list[str] | None = None, project: Project | None = None) -> list[VariantResult]:
    proj = project or Project(project_dir)
    target = proj.target(python, machine)
    defined = proj.variants()
    names = variants or list(defined)
    out = []
    for name in names:
        v = proj.variant(name)
        sel = proj.select(v.groups, v.extras, target)
        out.append(VariantResult(v, variant_hash(sel, target), sel.packages, target))
    return out


def resolve(project_dir: Path | str, *, variant: str | None = None, groups: list[str] | None = None,
            extras: list[str] | None = None, python: str | None = None,
            machine: str | None = None) -> tuple[Target, Selection]:
    """One selection: a declared variant, or groups and extras (never both: a variant's own
    definition would silently win over the groups and extras given with it)."""
    if variant and (groups or extras):
        given = ", ".join(f"--{k} {','.join(v)}" for k, v in (("groups", groups), ("extras", extras)) if v)
        raise ValidationError("variant", f"cannot be combined with {given}: a variant defines its own groups and "
                              "extras (declare another variant, or leave --variant out)")
    proj = Project(project_dir)
    target = proj.target(python, machine)
    if variant:
        return target, proj.select_variant(variant, target)
    return target, proj.select(groups or [], extras or [], target)


class HashesCheck(NamedTuple):
    path: Path
    fresh: bool
    expected: str
    current: str | None
    stale: tuple[str, ...]


def _expected(results: list[VariantResult]) -> tuple[str, dict[str, Any]]:
    target = results[0].target if results else Target()
    mapping = {r.variant.name: r.hash for r in results}
    return render_hashes_file(mapping, target), hashes_document(mapping, target)


def check_hashes(project_dir: Path | str, results: list[VariantResult]) -> HashesCheck:
    path = Path(project_dir) / HASHES_FILE
    text, doc = _expected(results)
    current = read_hashes_file(path)
    stale: list[str] = []
    if current is None:
        stale = sorted(doc["variants"])
    else:
        have = current.get("variants", {}) or {}
        stale = sorted(n for n in set(doc["variants"]) | set(have) if have.get(n) != doc["variants"].get(n))
        if current.get("target") != doc["target"]:
            stale = sorted(set(stale) | set(doc["variants"]))
    old = path.read_text(encoding="utf-8") if path.exists() else None
    return HashesCheck(path, not stale, text, old, tuple(stale))


def write_hashes(project_dir: Path | str, results: list[VariantResult]) -> HashesCheck:
    check = check_hashes(project_dir, results)
    if check.current != check.expected:
        tmp = check.path.with_suffix(".tmp")
        tmp.write_text(check.expected, encoding="utf-8")
        tmp.replace(check.path)
    return check


def hash_project(project_dir: Path | str, mode: str | None = None, *, python: str | None = None,
                 machine: str | None = None) -> tuple[list[VariantResult], HashesCheck | None]:
    """`variants hash`: every variant's hash, and with ``mode`` ``check`` or ``write`` the hashes file
    compared (or brought up to date). Nothing is written unless every variant resolved."""
    results = compute(project_dir, python=python, machine=machine)
    if mode == "check":
        return results, check_hashes(project_dir, results)
    if mode == "write":
        return results, write_hashes(project_dir, results)
    return results, None

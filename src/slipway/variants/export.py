"""A variant's selection as a hash-pinned requirements file (what the image's installer reads)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from slipway.variants.model import PYPI, Package, norm
from slipway.variants.project import Project


def _lock_hashes(project: Project) -> dict[tuple[str, str], list[str]]:
    data = tomllib.loads(project.lock_path.read_text(encoding="utf-8"))
    out: dict[tuple[str, str], list[str]] = {}
    meta_files: Mapping[str, Any] = (data.get("metadata", {}) or {}).get("files", {}) or {}
    for raw in data.get("package", []):
        name, version = norm(raw["name"]), str(raw.get("version", ""))
        hashes: set[str] = set()
        if project.kind == "uv":
            for w in raw.get("wheels", []) or []:
                hashes.add(str(w.get("hash", "")))
            if isinstance(raw.get("sdist"), dict):
                hashes.add(str(raw["sdist"].get("hash", "")))
        else:
            for f in raw.get("files", meta_files.get(raw["name"], [])) or []:
                hashes.add(str(f.get("hash", "")))
        out.setdefault((name, version), []).extend(sorted(h for h in hashes if h.startswith("sha256:")))
    return out


def requirements_txt(project: Project, packages: tuple[Package, ...]) -> str:
    """Pinned lines; ``--require-hashes`` style when every line carries hashes.

    Local path packages are left out (they are project code, copied after the dependency layer).
    """
    hashes = _lock_hashes(project)
    indexes = sorted({p.source.ref for p in packages if p.source.kind == "registry" and p.source.ref != PYPI
                      and p.source.ref.startswith(("http://", "https://"))})
    lines: list[str] = []
    for p in packages:
        src = p.source
        if src.kind == "registry":
            line = f"{p.name}=={p.version}"
            hs = hashes.get((p.name, p.version), [])
            line += "".join(f" --hash={h}" for h in hs)
        elif src.kind == "git":
            line = f"{p.name} @ git+{src.ref}@{src.pin}"
            if src.subdirectory:
                line += f"#subdirectory={src.subdirectory}"
        elif src.kind == "url":
            line = f"{p.name} @ {src.ref}"
            pins = [h for h in src.pin.split(",") if h.startswith("sha256:")]
            if len(pins) == 1:
                line += f" --hash={pins[0]}"
        else:
            continue
        lines.append(line)
    head = [f"--extra-index-url {u}" for u in indexes]
    return "\n".join([*head, *lines]) + "\n"

"""Content digests of local path dependencies (directories and files).

A directory counts every regular file below it except version-control and build debris:
``.git``, ``.hg``, ``.svn``, ``__pycache__``, ``.venv``, ``venv``, ``node_modules``, ``build``,
``dist``, ``*.egg-info``, ``.mypy_cache``, ``.pytest_cache``, ``.ruff_cache``, ``.tox`` and
``*.pyc``/``*.pyo`` files, and the project's own directory when the path contains it. The digest is sha256 over, for each file in sorted POSIX relative-path
order, ``path NUL sha256(content) NUL`` (plus ``x`` for executables). A file (wheel, sdist) is the
sha256 of its bytes. A path that does not exist digests to ``missing``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", "build", "dist",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def path_digest(project: Path, rel: str) -> str:
    target = (project / rel).resolve() if not os.path.isabs(rel) else Path(rel)
    if target.is_file():
        return "sha256:" + _file_sha(target)
    if not target.is_dir():
        return "missing"
    h = hashlib.sha256()
    entries: list[tuple[str, Path]] = []
    own = project.resolve()
    for root, dirs, files in os.walk(target):
        # the project's own code never counts, also when a path dependency contains it (a monorepo root)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                         and (Path(root) / d).resolve() != own)
        for f in files:
            if f.endswith(SKIP_SUFFIXES):
                continue
            p = Path(root) / f
            if p.is_symlink() or not p.is_file():
                continue
            entries.append((p.relative_to(target).as_posix(), p))
    for relpath, p in sorted(entries):
        mode = "x" if os.access(p, os.X_OK) else ""
        h.update(f"{relpath}\0{_file_sha(p)}\0{mode}".encode())
    return "sha256:" + h.hexdigest()

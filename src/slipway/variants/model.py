"""Plain data shared by the lock readers, the selection and the hash.

Named tuples, not dataclasses: immutable, ordered field by field, and cheap to import (the
pre-commit hook is a cold process; ``dataclasses`` pulls in ``inspect`` and ``ast``)."""

from __future__ import annotations

import re
from typing import NamedTuple


class Source(NamedTuple):
    """Where a package's artefact comes from, pinned.

    ``kind`` is one of ``registry`` (``ref`` = index URL), ``git`` (``ref`` = repository URL,
    ``pin`` = the resolved commit, never a branch name, ``subdirectory``), ``url`` (``ref`` = URL,
    ``pin`` = ``sha256:...`` of the artefact when the lock records one), ``path`` (``ref`` = path
    relative to the project, ``pin`` = ``sha256:...`` content digest of what it points at).
    """

    kind: str
    ref: str
    pin: str = ""
    subdirectory: str = ""

    def canonical(self) -> str:
        text = f"{self.kind}+{self.ref}"
        if self.pin:
            text += f"@{self.pin}"
        if self.subdirectory:
            text += f"#subdirectory={self.subdirectory}"
        return text


PYPI = "https://pypi.org/simple"


class Package(NamedTuple):
    name: str  # PEP 503 normalised
    version: str
    source: Source

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "source": self.source.canonical()}


class Selection(NamedTuple):
    """What one variant installs for one target: sorted, unique packages."""

    packages: tuple[Package, ...]
    groups: tuple[str, ...]
    extras: tuple[str, ...]
    lock_kind: str  # "poetry" or "uv"


_SEPARATORS = re.compile(r"[-_.]+")
_NORMED: dict[str, str] = {}


def norm(name: str) -> str:
    """PEP 503 normalised name as a plain str (``packaging.utils.canonicalize_name`` without the
    import: ``re.sub(r"[-_.]+", "-", name).lower()``)."""
    got = _NORMED.get(name)
    if got is None:
        got = _NORMED[name] = _SEPARATORS.sub("-", name).lower()
    return got

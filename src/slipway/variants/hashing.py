"""The canonical form of a variant and its hash; the committed hashes file.

Canonical form (version 1), the UTF-8 bytes of compact JSON with sorted keys
(``json.dumps(doc, sort_keys=True, separators=(",", ":"))``) of::

    {"format": "slipway-variant/1",
     "target": {"machine": "x86_64", "platform": "linux", "python": "3.12"},
     "variant": {"extras": [...sorted...], "groups": [...sorted, never "exp"...]},
     "packages": [[name, version, source], ...sorted...]}

``name`` is PEP 503 normalised; ``source`` is :meth:`Source.canonical`: ``registry+<index url>``,
``git+<repo url>@<commit>[#subdirectory=..]``, ``url+<url>@<sha256:...>``,
``path+<relative path>@sha256:<content digest>``. The project itself is not a package.
The hash is the lowercase hex sha256 of those bytes; image tags use its first 16 characters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError
from slipway.variants.markers import Target
from slipway.variants.model import Selection

FORMAT = "slipway-variant/1"
HASHES_FILE = "slipway-variants.lock.json"
TAG_LENGTH = 16


def canonical_document(selection: Selection, target: Target) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "target": target.canonical(),
        "variant": {"groups": sorted(selection.groups), "extras": sorted(selection.extras)},
        "packages": sorted([p.name, p.version, p.source.canonical()] for p in selection.packages),
    }


def canonical_bytes(selection: Selection, target: Target) -> bytes:
    doc = canonical_document(selection, target)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def variant_hash(selection: Selection, target: Target) -> str:
    return hashlib.sha256(canonical_bytes(selection, target)).hexdigest()


def salted(digest: str, salt: str = "") -> str:
    """The hash an image tag carries: the variant hash, or sha256(hash + ':' + salt) when salted."""
    if not salt:
        return digest
    return hashlib.sha256(f"{digest}:{salt}".encode()).hexdigest()


def tag_for(variant: str, digest: str) -> str:
    return f"{variant}-{digest[:TAG_LENGTH]}"


def hashes_document(results: Mapping[str, str], target: Target) -> dict[str, Any]:
    return {"format": FORMAT, "target": target.canonical(), "variants": dict(sorted(results.items()))}


def render_hashes_file(results: Mapping[str, str], target: Target) -> str:
    return json.dumps(hashes_document(results, target), indent=2, sort_keys=True) + "\n"


def read_hashes_file(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(path.name, f"is not a valid hashes file: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValidationError(path.name, "is not a Slipway hashes file", allowed=[FORMAT],
                              got=data.get("format") if isinstance(data, dict) else None)
    return data

"""Reading lock files quickly.

``tomllib`` is pure Python; on a 1.5 MB uv.lock it spends most of its time on the per-file
``wheels``/``files`` arrays that selection never reads. :func:`load_lock` drops those lines
before parsing, but only from package blocks whose source is an index (``url``/``file`` sources
keep theirs: their hash is part of the pin). If the trimmed text does not parse, the whole file
is parsed instead, so a reformatted lock gives the same data, only slower.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError


def _trim_uv(text: str) -> str:
    blocks = text.split("\n[[package]]\n")
    out = [blocks[0]]
    for block in blocks[1:]:
        if "source = { url" in block or "source = { path" in block:
            out.append(block)
            continue
        kept = []
        skip = False
        for line in block.split("\n"):
            if skip:
                if line == "]":
                    skip = False
                continue
            if line.startswith("wheels = ["):
                skip = not line.endswith("]")
                continue
            if line.startswith("sdist = {"):
                continue
            kept.append(line)
        out.append("\n".join(kept))
    return "\n[[package]]\n".join(out)


def _trim_poetry(text: str) -> str:
    head, sep, files_section = text.partition("\n[metadata.files]\n")
    if sep and ('type = "url"' in head or 'type = "file"' in head):
        return text  # lock 1.x keeps url/file hashes in [metadata.files]: keep it all
    blocks = head.split("\n[[package]]\n")
    out = [blocks[0]]
    for block in blocks[1:]:
        if 'type = "url"' in block or 'type = "file"' in block:
            out.append(block)
            continue
        kept = []
        skip = False
        for line in block.split("\n"):
            if skip:
                if line == "]":
                    skip = False
                continue
            if line.startswith("files = ["):
                skip = not line.endswith("]")
                continue
            kept.append(line)
        out.append("\n".join(kept))
    trimmed = "\n[[package]]\n".join(out)
    if sep:
        trimmed += "\n"  # [metadata.files] is only hashes of index files: not needed
    return trimmed


def parse_toml(text: str, field: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(field, f"is not valid TOML: {exc}") from None


def load_lock(path: Path, kind: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(path.name, f"cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValidationError(path.name, "is not UTF-8 text") from None
    trimmed = _trim_uv(text) if kind == "uv" else _trim_poetry(text)
    if trimmed is not text:
        try:
            return tomllib.loads(trimmed)
        except tomllib.TOMLDecodeError:
            pass
    return parse_toml(text, path.name)

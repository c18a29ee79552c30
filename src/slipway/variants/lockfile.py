"""Reading lock files quickly.

``tomllib`` is pure Python; on a 1.5 MB uv.lock it spends most of its time on the per-file
``wheels``/``files`` arrays that selection never reads. :func:`load_lock` drops those lines
before parsing, but only from package blocks whose source is an index (``url``/``file`` sources
keep theirs: their hash is part of the pin). If the trimmed text does not parse, the whole file
is parsed instead, so a reformatted lock gives the same data, only slower.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError


def trim_uv_block(block: str) -> str:
    """One ``[[package]]`` block without its ``wheels``/``sdist`` lines (kept for url/path sources)."""
    if "source = { url" in block or "source = { path" in block:
        return block
    start = block.find("\nsdist = {")
    if start < 0:
        start = block.find("\nwheels = [")
    if start < 0:
        return block
    return _drop_lines(block, array="wheels = [", single="sdist = {")


def _drop_lines(block: str, array: str, single: str | None = None) -> str:
    """``block`` without the multi-line array that starts with ``array`` (up to its closing ``]``)
    and without lines starting with ``single``."""
    kept = []
    skip = False
    for line in block.split("\n"):
        if skip:
            if line == "]":
                skip = False
            continue
        if line.startswith(array):
            skip = not line.endswith("]")
            continue
        if single is not None and line.startswith(single):
            continue
        kept.append(line)
    return "\n".join(kept)


def _trim_uv(text: str) -> str:
    blocks = text.split("\n[[package]]\n")
    return "\n[[package]]\n".join([blocks[0], *(trim_uv_block(b) for b in blocks[1:])])


def _trim_poetry(text: str) -> str:
    head, sep, _files = text.partition("\n[metadata.files]\n")
    if sep and ('type = "url"' in head or 'type = "file"' in head):
        return text  # lock 1.x keeps url/file hashes in [metadata.files]: keep it all
    blocks = head.split("\n[[package]]\n")
    out = [blocks[0]]
    for block in blocks[1:]:
        if 'type = "url"' in block or 'type = "file"' in block:
            out.append(block)
            continue
        out.append(_drop_lines(block, array="files = ["))
    trimmed = "\n[[package]]\n".join(out)
    if sep:
        trimmed += "\n"  # [metadata.files] is only hashes of index files: not needed
    return trimmed


_KEY = re.compile(r"([{,]\s*)([A-Za-z0-9_-]+)\s*=(?!=)")
_LITERAL = re.compile(r"'([^'\n]*)'")
_TRAILING = re.compile(r",\s*([\]}])")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Unsupported(Exception):
    pass


_BASIC = re.compile(r'"(?:[^"\\]|\\.)*"')
_KEYS = ("name", "version", "source", "marker", "markers", "extra", "extras", "registry", "git", "url", "path",
         "editable", "virtual", "directory", "hash", "size", "upload-time", "specifier", "index", "package",
         "group", "optional", "python", "develop", "subdirectory", "rev", "branch", "tag", "file")
_KEY_REPL = [(a.format(k), b.format(k)) for k in _KEYS
             for a, b in (("{{ {} = ", '{{ "{}": '), ("{{{} = ", '{{"{}": '), (", {} = ", ', "{}": '))]


def _json_value(text: str) -> Any:
    bare = _BASIC.sub("", text) if '"' in text else text
    if "'" in bare:
        # literal strings outside basic strings (uv markers hold quotes inside "...")
        parts = _BASIC.split(text)
        strings = _BASIC.findall(text)
        text = "".join(p + (strings[i] if i < len(strings) else "")
                       for i, p in enumerate(_LITERAL.sub(lambda m: json.dumps(m.group(1)), x) for x in parts))
        bare = _BASIC.sub("", text)
    if "=" in bare:
        for a, b in _KEY_REPL:
            if a in text:
                text = text.replace(a, b)
        if "=" in _BASIC.sub("", text):
            parts = _BASIC.split(text)
            strings = _BASIC.findall(text)
            text = "".join(_KEY.sub(r'\1"\2":', x) + (strings[i] if i < len(strings) else "")
                           for i, x in enumerate(parts))
    if "," in bare:
        text = _TRAILING.sub(r"\1", text)
    try:
        return json.loads(text)
    except ValueError:
        raise _Unsupported(text[:80]) from None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\'\n]*\'')


def _depth(line: str) -> int:
    bare = _STRINGS.sub("", line) if ('"' in line or "'" in line) else line
    return bare.count("[") - bare.count("]")


def fast_parse(text: str) -> dict[str, Any]:
    """Parse the machine-written subset of TOML that poetry and uv write, through ``json``.

    Handles table headers, ``key = value`` lines, inline tables and arrays (one item per line),
    basic and literal one-line strings, comments. Anything else raises :class:`_Unsupported`, and
    the caller falls back to ``tomllib``; the test suite checks both agree on every corpus lock.
    """
    root: dict[str, Any] = {}
    cur = root
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i].strip()
        i += 1
        if not line or line[0] == "#":
            continue
        if line[0] == "[":
            array = line.startswith("[[")
            inner = line[2:-2] if array else line[1:-1]
            if ('"' in inner or "'" in inner or not line.endswith("]]" if array else "]")
                    or "#" in line):
                raise _Unsupported(line)
            path = inner.split(".")
            node: Any = root
            for part in path[:-1]:
                node = node.setdefault(part, {})
                if isinstance(node, list):
                    node = node[-1]
            last = path[-1]
            if array:
                lst = node.setdefault(last, [])
                cur = {}
                lst.append(cur)
            else:
                existing = node.get(last)
                cur = existing if isinstance(existing, dict) else node.setdefault(last, {})
            continue
        key, sep, value = line.partition(" = ")
        if not sep:
            raise _Unsupported(line)
        if key[0] == '"':
            key = json.loads(key)
        elif not _BARE_KEY.fullmatch(key):
            raise _Unsupported(line)
        if value.startswith('"""') or value.startswith("'''"):
            raise _Unsupported(line)
        if value == "[" or (value[0] == "[" and not value.endswith("]")):
            chunk = [value]
            depth = _depth(value)
            while i < n:
                nxt = lines[i].strip()
                i += 1
                chunk.append(nxt)
                depth += _depth(nxt)
                if depth <= 0:
                    break
            else:
                raise _Unsupported(line)
            value = " ".join(c for c in chunk if c and c[0] != "#")
        elif " #" in value and value[0] == '"':
            end = value.find('" #')
            if end > 0 and value.count('"', 0, end + 1) == 2:
                value = value[: end + 1]
        if key in cur:
            raise _Unsupported(f"duplicate key {key}")
        cur[key] = _json_value(value)
    return root


def parse_toml(text: str, field: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(field, f"is not valid TOML: {exc}") from None


def read_text(path: Path) -> str:
    """A lock or pyproject file as text; unreadable, non-UTF-8 and empty files are refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(path.name, f"cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValidationError(path.name, "is not UTF-8 text") from None
    if not text or text.isspace():
        advice = "run `uv lock`" if path.name == "uv.lock" else "run `poetry lock`" if path.name == "poetry.lock" \
            else "it declares no project"
        raise ValidationError(path.name, f"is empty: {advice}")
    return text


_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')


def _looks_whole(text: str) -> bool:
    """The cheap part of :func:`check_structure`: every string, array and inline table that opens
    also closes, and the file ends with a newline (poetry and uv always write one). C-speed passes
    over the bytes only (~1 ms for a 1.5 MB lock)."""
    data = text.encode()
    if not data.endswith(b"\n") or b'"""' in data or b"'''" in data:
        return False
    marks = data.translate(None, _NOT_STRUCTURE)  # only the quotes, brackets and braces remain
    quotes = marks.count(b'"') - (data.count(b'\\"') if b"\\" in data else 0)
    if quotes % 2:
        return False
    return marks.count(b"[") == marks.count(b"]") and marks.count(b"{") == marks.count(b"}")


def check_structure(text: str, field: str) -> None:
    """Refuse a file that is not whole TOML, before any part of it is read lazily.

    The lazy readers parse only what a selection reaches, so a lock cut short (or cut in the
    middle) would otherwise select from what is left. A file that fails the cheap counts is parsed
    by ``tomllib``: its error is the message; a file ``tomllib`` accepts is accepted.
    """
    if _looks_whole(text):
        return
    parse_toml(text, field)


def load_lock(path: Path, kind: str, text: str | None = None) -> dict[str, Any]:
    if text is None:
        text = read_text(path)
        check_structure(text, path.name)
    trimmed = _trim_uv(text) if kind == "uv" else _trim_poetry(text)
    try:
        return fast_parse(trimmed)
    except (_Unsupported, ValueError, IndexError, AttributeError, TypeError):
        pass
    return parse_toml(text, path.name)


def load_uv_lazily(text: str) -> tuple[dict[str, Any], list[str]] | None:
    """The lock's top-level tables, and its ``[[package]]`` blocks unparsed (``None``: use load_lock).

    ``text`` has passed :func:`check_structure`.
    """
    blocks = text.split("\n[[package]]\n")
    try:
        header = fast_parse(blocks[0])
    except (_Unsupported, ValueError, IndexError, AttributeError, TypeError):
        return None
    if "package" in header or len(blocks) < 2:
        return None
    return header, [b.strip("\n") + "\n" for b in blocks[1:]]


_PAIR = re.compile(r'([A-Za-z0-9_-]+) = ("(?:[^"\\\n]|\\.)*"|\[(?:[^\]"\n]|"(?:[^"\\\n]|\\.)*")*\]|\{[^{}\n]*\}|true|false|-?\d+)')
_ITEM = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_TABLE_ITEM = re.compile(r'\{(?:[^{}"\n]|"(?:[^"\\\n]|\\.)*"|\{[^{}\n]*\})*\}')
_TABLES = {"[package.optional-dependencies]": ("optional-dependencies",),
           "[package.dev-dependencies]": ("dev-dependencies",), "[package.metadata]": ("metadata",),
           "[package.metadata.requires-dev]": ("metadata", "requires-dev")}


def _string(text: str) -> str:
    return text[1:-1] if "\\" not in text else str(json.loads(text))


def _scalar(text: str) -> Any:
    first = text[0]
    if first == '"':
        if not _ITEM.fullmatch(text):
            raise _Unsupported(text[:80])
        return _string(text)
    if first == "{":
        return _inline(text)
    if first == "[":
        inner = text[1:-1].strip()
        if not inner:
            return []
        if inner[0] == "{":
            tables = _TABLE_ITEM.findall(inner)
            if ", ".join(tables) != inner.rstrip(","):
                raise _Unsupported(text[:80])
            return [_inline(t) for t in tables]
        items = _ITEM.findall(inner)
        if ", ".join(items) != inner.rstrip(","):
            raise _Unsupported(text[:80])
        return [_string(i) for i in items]
    if text in ("true", "false"):
        return text == "true"
    return int(text)


def _inline(text: str) -> dict[str, Any]:
    """``{ key = value, ... }`` as uv writes it (one line, ``, `` between pairs)."""
    if text == "{}":
        return {}
    if not (text.startswith("{ ") and text.endswith(" }")):
        raise _Unsupported(text[:80])
    out: dict[str, Any] = {}
    pos, end = 2, len(text) - 2
    while True:
        m = _PAIR.match(text, pos)
        if not m or m.group(1) in out:
            raise _Unsupported(text[:80])
        out[m.group(1)] = _scalar(m.group(2))
        pos = m.end()
        if pos == end:
            return out
        if not text.startswith(", ", pos):
            raise _Unsupported(text[:80])
        pos += 2


def parse_uv_package(block: str) -> dict[str, Any]:
    """One trimmed ``[[package]]`` block of a uv.lock (what :func:`trim_uv_block` leaves), parsed
    for the exact layout uv writes: ``key = value`` lines, one-line inline tables, arrays of one
    item per line, the package's sub-tables. Anything else raises ``_Unsupported`` (the caller
    then uses :func:`fast_parse`); tests check it equals ``tomllib`` on every corpus block."""
    pkg: dict[str, Any] = {}
    table = pkg
    lines = block.split("\n")
    n, i = len(lines), 0
    while i < n:
        line = lines[i]
        i += 1
        if not line:
            continue
        if line[0] == "[":
            path = _TABLES.get(line)
            if path is None:
                raise _Unsupported(line)
            table = pkg
            for part in path:
                nxt = table.setdefault(part, {})
                if not isinstance(nxt, dict):
                    raise _Unsupported(line)
                table = nxt
            continue
        key, sep, value = line.partition(" = ")
        if not sep or not _BARE_KEY.fullmatch(key) or key in table or not value:
            raise _Unsupported(line)
        if value == "[":
            items: list[Any] = []
            while True:
                if i >= n:
                    raise _Unsupported(line)
                item = lines[i]
                i += 1
                if item == "]":
                    break
                if not item.startswith("    ") or not item.endswith(","):
                    raise _Unsupported(item)
                items.append(_scalar(item[4:-1]))
            table[key] = items
        else:
            table[key] = _scalar(value)
    return pkg

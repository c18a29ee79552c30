"""Version constraints as written in lock files: poetry's (``^1.2``, ``~1.2``, ``1.*``, ``>=1 <2``,
``a || b``) and PEP 440 specifiers. Used to pick among several locked versions of one package."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from slipway.variants.markers import _release_compare

if TYPE_CHECKING:
    from packaging.version import Version

Check = Callable[["Version"], bool]
_SPLIT = re.compile(r"\s*,\s*|\s+(?![^<>=!~]*$)")
_OP = re.compile(r"^(===|==|!=|<=|>=|~=|<|>|=)?\s*(.+)$")


def _release(text: str) -> list[int]:
    out = []
    for part in text.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group(0)))
    return out or [0]


def _upper_caret(text: str) -> Version:
    from packaging.version import Version

    rel = _release(text)
    for i, n in enumerate(rel):
        if n != 0 or i == len(rel) - 1:
            bumped = rel[: i + 1]
            bumped[-1] += 1
            return Version(".".join(map(str, bumped)))
    return Version("1")  # pragma: no cover - loop always returns


def _upper_tilde(text: str) -> Version:
    from packaging.version import Version

    rel = _release(text)
    keep = rel[:2] if len(rel) >= 2 else rel[:1]
    keep = list(keep)
    keep[-1] += 1
    return Version(".".join(map(str, keep)))


def _one(term: str) -> Check:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    term = term.strip()
    if term in ("", "*"):
        return lambda v: True
    if term.startswith("^"):
        lo, hi = Version(term[1:].strip()), _upper_caret(term[1:].strip())
        return lambda v: lo <= v < hi
    if term.startswith("~") and not term.startswith("~="):
        lo, hi = Version(term[1:].strip()), _upper_tilde(term[1:].strip())
        return lambda v: lo <= v < hi
    m = _OP.match(term)
    if not m:
        raise ValueError(term)
    op, ver = m.group(1) or "==", m.group(2).strip()
    if op == "=":
        op = "=="
    if ver.endswith(".*") and op in ("==", "!="):
        spec = SpecifierSet(f"{op}{ver}")
        return lambda v: spec.contains(v, prereleases=True)
    spec = SpecifierSet(f"{op}{ver}")
    return lambda v: spec.contains(v, prereleases=True)


@lru_cache(maxsize=8192)
def compile_constraint(text: str) -> Check:
    """A predicate over versions; an unparseable constraint allows everything (the lock decides)."""
    from packaging.specifiers import InvalidSpecifier
    from packaging.version import InvalidVersion

    alternatives = [a for a in re.split(r"\s*\|\|?\s*", text.strip()) if a]
    checks: list[list[Check]] = []
    try:
        for alt in alternatives:
            terms = [t for t in re.split(r"\s*,\s*", alt) if t]
            expanded: list[str] = []
            for t in terms:
                # poetry allows space-separated terms: ">=1.0 <2.0"
                expanded.extend(re.findall(r"(?:[<>=!~^]=?=?\s*)?[^\s<>=!~^,]+", t))
            checks.append([_one(t) for t in expanded])
    except (InvalidSpecifier, InvalidVersion, ValueError):
        return lambda v: True
    if not checks:
        return lambda v: True
    return lambda v: any(all(c(v) for c in alt) for alt in checks)


_SIMPLE = re.compile(r"\s*(<=|>=|==|!=|<|>|=|\^|~(?!=))?\s*(\d+(?:\.\d+)*(?:\.\*)?)\s*")


def _bump(release: str, caret: bool) -> str:
    """The exclusive upper bound of ``^release`` / ``~release`` (poetry's rules), as a release."""
    parts = [int(x) for x in release.split(".")]
    if caret:
        keep = next((i for i, n in enumerate(parts) if n != 0), len(parts) - 1) + 1
    else:
        keep = min(len(parts), 2) if len(parts) >= 2 else 1
    bumped = parts[:keep]
    bumped[-1] += 1
    return ".".join(map(str, bumped))


def _quick_allows(constraint: str, version: str) -> bool | None:
    """``>=3.11,<4``, ``^3.8.1``, ``>=3.8 <4 || 3.7.*``-style constraints on a plain release,
    without importing packaging; ``None`` for anything else."""
    if constraint.strip() in ("", "*"):
        return True
    any_ok = False
    for alt in re.split(r"\s*\|\|?\s*", constraint.strip()):
        ok = True
        for term in re.split(r"\s*,\s*|\s+(?=[<>=!^~\d])", alt.strip()):
            if term in ("", "*"):
                continue
            m = _SIMPLE.fullmatch(term)
            if not m:
                return None
            op, release = m.group(1) or "==", m.group(2)
            if op in ("^", "~"):
                if release.endswith(".*"):
                    return None
                lo, hi = _release_compare(">=", version, release), _release_compare("<", version, _bump(release, op == "^"))
                if lo is None or hi is None:
                    return None
                ok = ok and lo and hi
                continue
            got = _release_compare("==" if op == "=" else op, version, release)
            if got is None:
                return None
            ok = ok and got
        any_ok = any_ok or ok
    return any_ok


def allows(constraint: str | None, version: str) -> bool:
    if not constraint:
        return True
    quick = _quick_allows(constraint, version)
    if quick is not None:
        return quick
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(version)
    except InvalidVersion:
        return True
    return compile_constraint(constraint)(v)


def pep440(constraint: str) -> str:
    """A poetry constraint as a PEP 440 specifier (``^1.2`` -> ``>=1.2,<2``); ``*`` -> ``""``."""
    out = []
    for term in re.split(r"\s*,\s*|\s+", constraint.strip()):
        if term in ("", "*"):
            continue
        if term.startswith("^"):
            out.append(f">={term[1:]},<{_upper_caret(term[1:])}")
        elif term.startswith("~") and not term.startswith("~="):
            out.append(f">={term[1:]},<{_upper_tilde(term[1:])}")
        elif term[0].isdigit():
            out.append(f"=={term}")
        else:
            out.append(term)
    return ",".join(out)

"""PEP 508 environment markers, compiled once and evaluated for an explicit target.

The installer inside an image evaluates markers for *its* interpreter and platform, not for the
machine that runs Slipway, so every evaluation here takes a :class:`Target`. ``extra`` is special:
it is compared against a *set* of active extras (what pip does one extra at a time, and what
``poetry export``/``uv export`` do for a selection of several).

Compiled markers are cached by their text: real locks repeat the same few hundred markers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from functools import lru_cache
from typing import TYPE_CHECKING

from slipway.errors import ValidationError
from slipway.variants.model import norm

if TYPE_CHECKING:
    from packaging.version import Version

MACHINES = ("x86_64", "aarch64")
PLATFORMS = ("linux",)


class Target:
    """The environment an image's installer runs in (immutable; equal by python, platform, machine)."""

    __slots__ = ("env", "machine", "platform", "python")

    def __init__(self, python: str = "3.12", platform: str = "linux", machine: str = "x86_64") -> None:
        if not isinstance(python, str) or not re.fullmatch(r"3\.\d{1,2}(\.\d{1,3})?", python):
            raise ValidationError("python", "must be a CPython 3 version such as 3.12 or 3.12.4",
                                  got=python)
        if platform not in PLATFORMS:
            raise ValidationError("platform", "is not a supported target platform", allowed=PLATFORMS,
                                  got=platform)
        if machine not in MACHINES:
            raise ValidationError("machine", "is not a supported target architecture", allowed=MACHINES,
                                  got=machine)
        parts = python.split(".")
        full = python if len(parts) == 3 else f"{python}.0"
        env = {
            "python_version": ".".join(parts[:2]),
            "python_full_version": full,
            "implementation_version": full,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "os_name": "posix",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": machine,
            "platform_release": "",
            "platform_version": "",
        }
        for name, value in (("python", python), ("platform", platform), ("machine", machine), ("env", env)):
            object.__setattr__(self, name, value)

    python: str
    platform: str
    machine: str
    env: dict[str, str]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Target is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Target):
            return NotImplemented
        return (self.python, self.platform, self.machine) == (other.python, other.platform, other.machine)

    def __hash__(self) -> int:
        return hash((self.python, self.platform, self.machine))

    def __repr__(self) -> str:
        return f"Target(python={self.python!r}, platform={self.platform!r}, machine={self.machine!r})"

    @property
    def python_version(self) -> Version:
        from packaging.version import Version

        return Version(self.env["python_full_version"])

    def canonical(self) -> dict[str, str]:
        return {"python": self.python, "platform": self.platform, "machine": self.machine}


# An evaluator returns True/False, or None when the marker only tested ``extra`` and extras are
# being ignored (poetry's ``without_extras()``).
Evaluator = Callable[[dict[str, str], frozenset[str] | None], bool | None]

_TOKEN = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)|(?P<kw>and\b|or\b)|(?P<var>[A-Za-z_][A-Za-z0-9_.]*))""")
_VERSION_VARS = {"python_version", "python_full_version", "implementation_version", "platform_release"}
_ALIASES = {"os.name": "os_name", "sys.platform": "sys_platform", "platform.version": "platform_version",
            "platform.machine": "platform_machine", "platform.python_implementation":
            "platform_python_implementation", "python_implementation": "platform_python_implementation"}
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!=", "===": "===", "~=": "~="}


class MarkerError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise MarkerError(f"cannot parse marker {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append((kind, " ".join(value.split()) if kind == "op" else value))
        pos = m.end()
    return out


_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def _release_compare(op: str, lhs: str, rhs: str) -> bool | None:
    """PEP 440 comparison of two plain releases (``3.12``, ``3.11.4``, ``3.11.*``), as
    ``packaging``'s Specifier gives it, without importing it; ``None`` for anything else."""
    wildcard = rhs.endswith(".*") and op in ("==", "!=")
    bare = rhs[:-2] if wildcard else rhs
    if op not in ("==", "!=", "<", "<=", ">", ">=") or not _RELEASE.fullmatch(lhs) or not _RELEASE.fullmatch(bare):
        return None
    left = [int(x) for x in lhs.split(".")]
    right = [int(x) for x in bare.split(".")]
    if wildcard:
        return (left[: len(right)] + [0] * (len(right) - len(left)) == right) == (op == "==")
    width = max(len(left), len(right))
    left += [0] * (width - len(left))
    right += [0] * (width - len(right))
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _compare(op: str, lhs: str, rhs: str, version_like: bool) -> bool:
    if op == "in":
        return lhs in rhs
    if op == "not in":
        return lhs not in rhs
    if version_like:
        quick = _release_compare(op, lhs, rhs)
        if quick is not None:
            return quick
        from packaging.specifiers import InvalidSpecifier, Specifier
        from packaging.version import InvalidVersion

        try:
            spec = Specifier(f"{op}{rhs}")
            return spec.contains(lhs, prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            pass
    if op == "==" or op == "===":
        return lhs == rhs
    if op == "!=":
        return lhs != rhs
    if op == "<":
        return lhs < rhs
    if op == ">":
        return lhs > rhs
    if op == "<=":
        return lhs <= rhs
    if op == ">=":
        return lhs >= rhs
    raise MarkerError(f"operator {op} cannot compare {lhs!r} and {rhs!r}")


def _atom(left: tuple[str, str], op: str, right: tuple[str, str]) -> Evaluator:
    if left[0] == "str" and right[0] == "var":
        if op in ("in", "not in"):
            var, literal = _ALIASES.get(right[1], right[1]), left[1][1:-1]

            def contains(env: dict[str, str], extras: frozenset[str] | None) -> bool | None:
                if not env:
                    return True
                hay = env.get(var, "")
                return (literal in hay) if op == "in" else (literal not in hay)
            return contains
        return _atom(right, _FLIP[op], left)
    if left[0] != "var" or right[0] != "str":
        raise MarkerError(f"a marker compares a variable with a string, got {left[1]} {op} {right[1]}")
    var = _ALIASES.get(left[1], left[1])
    value = right[1][1:-1]
    if var == "extra":
        wanted = norm(value)
        if op not in ("==", "!=", "===", "in", "not in"):
            # "extra > x" is meaningless; pip compares strings. Treat as never true.
            return lambda env, extras: None if extras is None else False
        negate = op in ("!=", "not in")

        def extra_eval(env: dict[str, str], extras: frozenset[str] | None) -> bool | None:
            if extras is None:
                return None
            return (wanted in extras) != negate
        return extra_eval
    version_like = var in _VERSION_VARS

    def evaluate(env: dict[str, str], extras: frozenset[str] | None) -> bool | None:
        if not env:
            return True  # extras-only validation: every other clause may hold
        return _compare(op, env.get(var, ""), value, version_like)
    return evaluate


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.t = tokens
        self.i = 0
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise MarkerError(f"marker {self.text!r} ends too early")
        self.i += 1
        return tok

    def expr(self) -> Evaluator:
        parts = [self.conj()]
        while (tok := self.peek()) is not None and tok == ("kw", "or"):
            self.i += 1
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]

        def any_of(env: dict[str, str], extras: frozenset[str] | None) -> bool | None:
            seen = None
            for p in parts:
                r = p(env, extras)
                if r:
                    return True
                if r is False:
                    seen = False
            return seen
        return any_of

    def conj(self) -> Evaluator:
        parts = [self.item()]
        while (tok := self.peek()) is not None and tok == ("kw", "and"):
            self.i += 1
            parts.append(self.item())
        if len(parts) == 1:
            return parts[0]

        def all_of(env: dict[str, str], extras: frozenset[str] | None) -> bool | None:
            seen = None
            for p in parts:
                r = p(env, extras)
                if r is False:
                    return False
                if r:
                    seen = True
            return seen
        return all_of

    def item(self) -> Evaluator:
        tok = self.take()
        if tok[0] == "lp":
            inner = self.expr()
            if self.take()[0] != "rp":
                raise MarkerError(f"unbalanced parentheses in marker {self.text!r}")
            return inner
        if tok[0] not in ("var", "str"):
            raise MarkerError(f"unexpected {tok[1]!r} in marker {self.text!r}")
        op = self.take()
        if op[0] != "op":
            raise MarkerError(f"expected an operator after {tok[1]!r} in marker {self.text!r}")
        right = self.take()
        return _atom(tok, op[1], right)


@lru_cache(maxsize=16384)
def compile_marker(text: str) -> Evaluator:
    """Compile a marker once; raises :class:`MarkerError` on malformed text."""
    tokens = _tokens(text)
    if not tokens:
        return lambda env, extras: True
    p = _Parser(tokens, text)
    ev = p.expr()
    if p.i != len(tokens):
        raise MarkerError(f"trailing text in marker {text!r}")
    return ev


def evaluate(text: str | None, target: Target, extras: Collection[str] | None = ()) -> bool:
    """True when ``text`` holds for ``target`` with ``extras`` active.

    ``extras=None`` ignores every ``extra`` comparison (a clause made only of them counts as true),
    the way poetry's exporter strips extras from nested requirements.
    """
    if not text:
        return True
    active = None if extras is None else frozenset(norm(e) for e in extras)
    result = compile_marker(text)(target.env, active)
    return True if result is None else result


def extras_allow(text: str | None, extras: Collection[str]) -> bool:
    """poetry's ``marker.validate({"extra": extras})``: only ``extra`` clauses are evaluated, every
    other clause counts as satisfiable."""
    if not text:
        return True
    active = frozenset(norm(e) for e in extras)
    result = compile_marker(text)({}, active)
    return True if result is None else result

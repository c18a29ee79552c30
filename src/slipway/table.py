"""Plain-text tables for people (module output, CLI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def render(rows: Sequence[Mapping[str, object]], columns: Sequence[str], empty: str = "(none)") -> str:
    if not rows:
        return empty
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    head = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    lines = [head, "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)

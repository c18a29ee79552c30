"""What `variants resolve` and `variants hash` print: shared by the click face (cli.py) and the
click-free one (fastcli.py), so both print the very same bytes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipway.variants.markers import Target
    from slipway.variants.model import Selection
    from slipway.variants.service import HashesCheck, VariantResult


def split_names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def resolve_text(target: Target, sel: Selection, as_json: bool) -> str:
    rows = [p.as_dict() for p in sel.packages]
    if as_json:
        return json.dumps({"target": target.canonical(), "groups": list(sel.groups), "extras": list(sel.extras),
                           "lock": sel.lock_kind, "packages": rows}, indent=2)
    width = max([len(r["name"]) for r in rows] + [4])
    vwidth = max([len(r["version"]) for r in rows] + [7])
    lines = [f"{'name':<{width}}  {'version':<{vwidth}}  source"]
    lines += [f"{r['name']:<{width}}  {r['version']:<{vwidth}}  {r['source']}" for r in rows]
    return "\n".join(lines)


def hash_text(results: list[VariantResult], as_json: bool) -> str:
    if as_json:
        return json.dumps([r.as_dict() for r in results], indent=2)
    return "\n".join(f"{r.variant.name} {r.hash}" for r in results)


def stale_text(chk: HashesCheck) -> str:
    return (f"error: {chk.path.name} is stale for variant(s) {', '.join(chk.stale)}: "
            "run `slipway variants hash --write`")


def written_text(chk: HashesCheck) -> str:
    return f"{'updated' if not chk.fresh else 'unchanged'} {chk.path}"

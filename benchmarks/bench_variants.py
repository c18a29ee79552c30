"""Benchmark: Slipway's resolve+hash against `poetry export` and `uv export`, per corpus lock.

    .venv/bin/python benchmarks/bench_variants.py [--corpus ../shared/lockcorpus] [--repeat 5]

For each project: the median wall time of Slipway reading pyproject + lock, selecting the main
dependencies for Python 3.12 / linux / x86_64 and hashing them (in process: what `variant_hash`
and the CI step pay), against the median of the real exporter for the same selection, run side by
side (poetry export for poetry.lock, uv export --frozen for uv.lock; tools pinned as in the oracle
tests). Prints a table with ratios, and the fit of Slipway's time against lock size.
Goals: >= 30x faster than poetry export; no slower than uv export; cost linear in lock size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from slipway.errors import ValidationError  # noqa: E402
from slipway.variants.hashing import variant_hash  # noqa: E402
from slipway.variants.markers import compile_marker  # noqa: E402
from slipway.variants.project import Project  # noqa: E402


def slipway_once(d: Path) -> float:
    compile_marker.cache_clear()
    t0 = time.perf_counter()
    p = Project(d)
    t = p.target("3.12")
    try:
        variant_hash(p.select((), (), t), t)
    except ValidationError:
        t = p.target(_in_range(p))
        variant_hash(p.select((), (), t), t)
    return time.perf_counter() - t0


def _in_range(p: Project) -> str:
    from slipway.variants.constraints import allows

    rp = p.requires_python()
    return next(v for v in ("3.12", "3.11", "3.13", "3.10", "3.9", "3.8", "3.14") if not rp or allows(rp, f"{v}.0"))


def tool_once(tools: object, kind: str, d: Path, scratch: Path) -> float:
    from tests.variants.oracle import run_export

    t0 = time.perf_counter()
    res = run_export(tools, kind, d, (), (), False, scratch)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    if not res.ok:
        raise RuntimeError(res.text.splitlines()[-1] if res.text else "failed")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO / ".." / "shared" / "lockcorpus")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tool-repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="substring filter on project names")
    args = ap.parse_args()
    from tests.variants.oracle import ensure_tools

    tools = ensure_tools()
    rows = []
    dirs = sorted(d for d in args.corpus.resolve().iterdir() if d.is_dir() and args.only in d.name)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for i, d in enumerate(dirs, 1):
            print(f"[{i}/{len(dirs)}] {d.name}", file=sys.stderr, flush=True)
            try:
                kind = Project(d).kind
            except ValidationError as exc:
                rows.append((d.name, "-", 0, None, None, f"refused: {str(exc)[:50]}"))
                continue
            size = (d / ("uv.lock" if kind == "uv" else "poetry.lock")).stat().st_size
            ours = statistics.median(slipway_once(d) for _ in range(args.repeat))
            try:
                theirs = statistics.median(tool_once(tools, kind, d, scratch) for _ in range(args.tool_repeat))
                note = ""
            except RuntimeError as exc:
                theirs, note = None, f"{kind} export failed: {exc}"[:60]
            rows.append((d.name, kind, size, ours, theirs, note))
    head = f"{'project':<48} {'lock':<6} {'KiB':>6} {'slipway ms':>10} {'export ms':>10} {'ratio':>8}  note"
    print(head)
    print("-" * len(head))
    by_kind: dict[str, list[float]] = {"poetry": [], "uv": []}
    for name, kind, size, ours, theirs, note in rows:
        ratio = (theirs / ours) if (ours and theirs) else None
        if ratio is not None:
            by_kind[kind].append(ratio)
        print(f"{name:<48} {kind:<6} {size / 1024:>6.0f} {(ours or 0) * 1000:>10.1f} "
              f"{(theirs or 0) * 1000:>10.1f} {(f'{ratio:.1f}x' if ratio else '-'):>8}  {note}")
    for kind, goal in (("poetry", 30.0), ("uv", 1.0)):
        rs = by_kind[kind]
        if rs:
            print(f"{kind} export / slipway: median {statistics.median(rs):.1f}x, min {min(rs):.1f}x "
                  f"(goal >= {goal:g}x): {'MET' if min(rs) >= goal else 'NOT MET'}")
    pts = [(size, ours) for _, _, size, ours, _, _ in rows if ours]
    if len(pts) > 2:
        xs, ys = [p[0] / 1024 for p in pts], [p[1] * 1000 for p in pts]
        slope, intercept = statistics.linear_regression(xs, ys)
        r = statistics.correlation(xs, ys)
        print(f"linearity: slipway ms = {slope:.3f} * KiB + {intercept:.1f}  (Pearson r = {r:.3f})")


if __name__ == "__main__":
    main()

"""Benchmark: Slipway's variant selection against `uv export --frozen` and `poetry export`, per corpus lock.

    .venv/bin/python benchmarks/bench_variants.py [--corpus ../shared/lockcorpus] [--repeat 7] [--only NAME]

For each project, the main dependencies for Python 3.12 / linux / x86_64 (or the first Python in
the project's range), measured three ways, each run interleaved with the exporter so that machine
load hits both alike:

- in process: reading pyproject + lock, selecting and hashing (what `variant_hash` and the CI step
  pay inside a running Python), against the exporter as a process;
- as processes, cold: `slipway variants resolve --project D`, `slipway variants hash --check
  --project D` (the pre-commit hook; the hashes file is written first so it passes) and the same
  check through the click-free face `python -m slipway.variants hash --check`, against
  `uv export --frozen --no-hashes --no-default-groups` or `poetry export --without-hashes` of the
  same selection (exporters pinned as in tests/variants/oracle.py).

Times are the minimum over the repeats (the least disturbed run; medians are printed too). Slipway
processes run with bytecode caching on (PYTHONPYCACHEPREFIX in a scratch folder, as for any
installed package), whatever PYTHONDONTWRITEBYTECODE says in the calling shell.
Goals, printed beside each ratio: a Slipway process at most 1.5x `uv export` on every uv lock; at
least 10x faster than `poetry export` on every poetry lock.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
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

UV_GOAL = 1.5  # slipway process / uv export, at most
POETRY_GOAL = 10.0  # poetry export / slipway process, at least
SLIPWAY = str(REPO / ".venv" / "bin" / "slipway")
PYTHON = str(REPO / ".venv" / "bin" / "python")


def _in_range(p: Project) -> str:
    from slipway.variants.constraints import allows

    rp = p.requires_python()
    return next(v for v in ("3.12", "3.11", "3.13", "3.10", "3.9", "3.8", "3.14") if not rp or allows(rp, f"{v}.0"))


def in_process(d: Path, python: str) -> float:
    compile_marker.cache_clear()
    t0 = time.perf_counter()
    p = Project(d)
    t = p.target(python)
    variant_hash(p.select((), (), t), t)
    return time.perf_counter() - t0


CPU: dict[str, list[float]] = {}  # command label -> CPU seconds (user + sys) of each run


def process(argv: list[str], cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,),
            label: str = "") -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU.setdefault(label, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    return dt


def exporter_argv(tools: object, kind: str) -> list[str]:
    if kind == "uv":
        return [str(tools.uv), "export", "--frozen", "--no-hashes", "--no-default-groups", "-q"]  # type: ignore[attr-defined]
    return [str(tools.poetry), "export", "--without-hashes", "-f", "requirements.txt", "--no-ansi"]  # type: ignore[attr-defined]


def exporter_env(scratch: Path) -> dict[str, str]:
    import os

    return {**os.environ, "POETRY_CACHE_DIR": str(scratch / "poetry-cache"), "UV_CACHE_DIR": str(scratch / "uv-cache"),
            "UV_NO_CONFIG": "1", "UV_OFFLINE": "1", "HOME": str(scratch / "home"), "NO_COLOR": "1",
            "POETRY_NO_INTERACTION": "1", "POETRY_VIRTUALENVS_CREATE": "false"}


def _fmt_ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.1f}" if seconds else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO / ".." / "shared" / "lockcorpus")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", default="", help="substring filter on project names")
    args = ap.parse_args()
    from tests.variants.oracle import ensure_tools

    tools = ensure_tools()
    rows: list[dict[str, object]] = []
    dirs = sorted(d for d in args.corpus.resolve().iterdir() if d.is_dir() and args.only in d.name)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = exporter_env(scratch)
        sw_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        sw_env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        for i, src in enumerate(dirs, 1):
            print(f"[{i}/{len(dirs)}] {src.name}", file=sys.stderr, flush=True)
            d = scratch / src.name
            shutil.copytree(src, d)
            try:
                proj = Project(d)
            except ValidationError as exc:
                rows.append({"name": src.name, "kind": "-", "note": f"refused: {str(exc)[:60]}"})
                continue
            python = _in_range(proj)
            size = proj.lock_path.stat().st_size
            py = ["--python", python]
            process([SLIPWAY, "variants", "hash", "--write", "--project", str(d), *py], d, sw_env)
            times: dict[str, list[float]] = {"inproc": [], "resolve": [], "check": [], "fast": [], "export": []}
            note = ""
            for _ in range(args.repeat):
                times["inproc"].append(in_process(d, python))
                times["resolve"].append(process([SLIPWAY, "variants", "resolve", "--project", str(d), *py], d, sw_env))
                times["check"].append(process([SLIPWAY, "variants", "hash", "--check", "--project", str(d), *py], d,
                                              sw_env, label=f"{src.name} check"))
                times["fast"].append(process([PYTHON, "-m", "slipway.variants", "hash", "--check", "--project", str(d),
                                              *py], d, sw_env, label=f"{src.name} fast"))
                try:
                    times["export"].append(process(exporter_argv(tools, proj.kind), d, env, label=f"{src.name} export"))
                except RuntimeError as exc:
                    note = f"{proj.kind} export failed: {str(exc)[-60:]}"
            rows.append({"name": src.name, "kind": proj.kind, "kib": size / 1024, "note": note,
                         **{k: (min(v) if v else None) for k, v in times.items()},
                         **{f"{k}_med": (statistics.median(v) if v else None) for k, v in times.items()}})
    head = (f"{'project':<46} {'lock':<6} {'KiB':>5} {'in-proc':>8} {'resolve':>8} {'--check':>8} {'-m chk':>7} "
            f"{'export':>8}  {'ratio (in-proc / resolve / --check / -m)':<42} goal")
    print(head)
    print("-" * len(head))
    met = {"uv": True, "poetry": True}
    for r in rows:
        if r["kind"] == "-":
            print(f"{r['name']:<46} {'-':<6} {'':>5} {'':>8} {'':>8} {'':>8} {'':>7} {'':>8}  {r['note']}")
            continue
        kind, export = str(r["kind"]), r["export"]
        vals = [r["inproc"], r["resolve"], r["check"], r["fast"]]
        if export and all(vals):
            if kind == "uv":  # slipway / uv export: lower is better
                ratios = [float(v) / float(export) for v in vals]  # type: ignore[arg-type]
                ok = max(ratios[1:3]) <= UV_GOAL
                goal = f"<= {UV_GOAL:g}x uv export: {'met' if ok else 'NOT met'}"
            else:  # poetry export / slipway: higher is better
                ratios = [float(export) / float(v) for v in vals]  # type: ignore[arg-type]
                ok = min(ratios[1:3]) >= POETRY_GOAL
                goal = f">= {POETRY_GOAL:g}x faster than poetry export: {'met' if ok else 'NOT met'}"
            met[kind] = met[kind] and ok
            text = " / ".join(f"{x:.2f}x" for x in ratios)
        else:
            text, goal = "-", str(r["note"])
        print(f"{r['name']:<46} {kind:<6} {float(r['kib']):>5.0f} {_fmt_ms(r['inproc']):>8} "  # type: ignore[arg-type]
              f"{_fmt_ms(r['resolve']):>8} {_fmt_ms(r['check']):>8} {_fmt_ms(r['fast']):>7} "  # type: ignore[arg-type]
              f"{_fmt_ms(r['export']):>8}  {text:<42} {goal}")  # type: ignore[arg-type]
    print()
    print("times: minimum of the repeats, ms; uv ratios are slipway / uv export, poetry ratios poetry export / slipway")
    for kind in ("uv", "poetry"):
        ks = [r for r in rows if r["kind"] == kind and r["export"] and r["resolve"]]
        if not ks:
            continue
        if kind == "uv":
            worst = max(max(float(r["resolve"]), float(r["check"])) / float(r["export"]) for r in ks)  # type: ignore[arg-type]
            fast = max(float(r["fast"]) / float(r["export"]) for r in ks)  # type: ignore[arg-type]
            print(f"uv: worst process ratio {worst:.2f}x uv export (goal <= {UV_GOAL:g}x on every lock): "
                  f"{'MET' if met['uv'] else 'NOT MET'}; click-free `python -m slipway.variants hash --check`: "
                  f"worst {fast:.2f}x ({'MET' if fast <= UV_GOAL else 'NOT MET'})")
        else:
            worst = min(float(r["export"]) / max(float(r["resolve"]), float(r["check"])) for r in ks)  # type: ignore[arg-type]
            fast = min(float(r["export"]) / float(r["fast"]) for r in ks)  # type: ignore[arg-type]
            print(f"poetry: worst process speed-up {worst:.1f}x vs poetry export (goal >= {POETRY_GOAL:g}x on every lock): "
                  f"{'MET' if met['poetry'] else 'NOT MET'}; click-free face: worst {fast:.1f}x")
    for kind in ("uv", "poetry"):
        pairs = [(min(CPU[f"{r['name']} check"]), min(CPU[f"{r['name']} fast"]), min(CPU[f"{r['name']} export"]))
                 for r in rows if r["kind"] == kind and f"{r['name']} export" in CPU]
        if pairs:
            if kind == "uv":
                print(f"uv, CPU time (user+sys, less sensitive to machine load): worst slipway hash --check "
                      f"{max(c / e for c, _, e in pairs):.2f}x, click-free {max(f / e for _, f, e in pairs):.2f}x uv export")
            else:
                print(f"poetry, CPU time: worst speed-up {min(e / c for c, _, e in pairs):.1f}x (slipway hash --check), "
                      f"{min(e / f for _, f, e in pairs):.1f}x (click-free) vs poetry export")
    med = [(str(r["name"]), r["resolve_med"], r["export_med"]) for r in rows if r.get("resolve_med")]
    if med:
        print("medians (resolve / export, ms): " + ", ".join(f"{n.split('__')[-1]} {_fmt_ms(a)}/{_fmt_ms(b)}"  # type: ignore[arg-type]
                                                     for n, a, b in med))


if __name__ == "__main__":
    main()

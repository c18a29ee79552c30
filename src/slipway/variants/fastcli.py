"""``python -m slipway.variants hash|resolve ...``: the `slipway variants` commands without click.

The pre-commit hook (`hash --check`) runs as a cold process on every commit; click and the other
sub-commands are most of its start-up. This face parses the options of ``hash`` and ``resolve``
itself (the same names, defaults and output, through output.py and the same use cases) and hands
anything else (``--help``, an unknown option, a bad value) to the click group, which prints the
usual help or usage error.
"""

from __future__ import annotations

import os
import sys

from slipway.errors import SlipwayError

_VALUES = {"hash": {"--project", "--python", "--machine"},
           "resolve": {"--project", "--python", "--machine", "--variant", "--groups", "--extras"}}
_FLAGS = {"hash": {"--check", "--write", "--json"}, "resolve": {"--json"}}
_MACHINES = ("x86_64", "aarch64")


def parse(argv: list[str]) -> tuple[str, dict[str, str], set[str]] | None:
    """``(command, options, flags)``, or ``None`` when click should handle the arguments."""
    if not argv or argv[0] not in _VALUES:
        return None
    command, values, flags = argv[0], {}, set()
    mode: list[str] = []
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=")
        if name in _VALUES[command]:
            if not eq:
                if i + 1 >= len(rest):
                    return None
                i += 1
                value = rest[i]
            values[name] = value
        elif arg in _FLAGS[command]:
            flags.add(arg)
            if arg in ("--check", "--write"):
                mode.append(arg)
        else:
            return None
        i += 1
    if values.get("--machine", "x86_64") not in _MACHINES or os.path.isfile(values.get("--project", ".")):
        return None
    if mode:
        flags -= {"--check", "--write"}
        flags.add(mode[-1])  # as click's shared flag_value: the last one wins
    return command, values, flags


def run(command: str, values: dict[str, str], flags: set[str]) -> int:
    from slipway.variants.output import hash_text, resolve_text, split_names, stale_text, written_text
    from slipway.variants.service import hash_project, resolve

    project = values.get("--project", ".")
    python, machine = values.get("--python"), values.get("--machine")
    try:
        if command == "resolve":
            target, sel = resolve(project, variant=values.get("--variant"), groups=split_names(values.get("--groups")),
                                  extras=split_names(values.get("--extras")), python=python, machine=machine)
            print(resolve_text(target, sel, "--json" in flags))
            return 0
        mode = "check" if "--check" in flags else "write" if "--write" in flags else None
        results, chk = hash_project(project, mode, python=python, machine=machine)
    except SlipwayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    text = hash_text(results, "--json" in flags)
    if text:
        print(text)
    if chk is not None and mode == "check" and not chk.fresh:
        print(stale_text(chk), file=sys.stderr)
        return 1
    if chk is not None and mode == "write":
        print(written_text(chk), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parsed = parse(args)
    if parsed is None:
        from slipway.variants.cli import variants

        variants.main(args=args, prog_name="slipway variants")  # exits
        return 0  # pragma: no cover - click's main exits
    return run(*parsed)

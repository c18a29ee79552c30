"""Run by the oracle tool venv's Python (poetry + poetry-plugin-export), not by the project's venv.

    python poetry_batch.py PROJECT_DIR < cases.json > results.json

Loads the project once and runs poetry-plugin-export's requirements.txt exporter for every case
(``{"label", "groups", "extras", "all_extras"}``), as `poetry export --without-hashes --only
main,GROUPS -E EXTRA` does, saving one poetry start-up per case. The lock-freshness check of the
command is reproduced (`poetry export` refuses a stale lock).
"""

import json
import sys
from pathlib import Path

from cleo.io.buffered_io import BufferedIO
from packaging.utils import canonicalize_name
from poetry.factory import Factory
from poetry_plugin_export.exporter import Exporter


def main() -> None:
    project = Path(sys.argv[1])
    cases = json.load(sys.stdin)
    out = {}
    poetry = Factory().create_poetry(project)
    if not poetry.locker.is_fresh():
        msg = ("pyproject.toml changed significantly since poetry.lock was last generated. "
               "Run `poetry lock` to fix the lock file.")
        json.dump({c["label"]: {"ok": False, "text": msg} for c in cases}, sys.stdout)
        return
    all_extras = [canonicalize_name(e) for e in poetry.package.extras]
    for case in cases:
        bio = BufferedIO()
        try:
            exporter = Exporter(poetry, bio)
            exporter.only_groups([canonicalize_name(g) for g in ("main", *case["groups"])])
            extras = all_extras if case["all_extras"] else [canonicalize_name(e) for e in case["extras"]]
            exporter.with_extras(extras)
            exporter.with_hashes(False)
            exporter.export("requirements.txt", project, bio)
            out[case["label"]] = {"ok": True, "text": bio.fetch_output()}
        except Exception as exc:
            out[case["label"]] = {"ok": False, "text": f"{type(exc).__name__}: {exc}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

"""slipway.infra.variant_hash through Ansible: check mode writes nothing, diff, idempotence."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from slipway.variants.hashing import HASHES_FILE
from tests.harness.procs import REPO
from tests.images.demo import make_demo


def adhoc(args: str, *flags: str) -> tuple[int, dict[str, object], str]:
    argv = [str(REPO / ".venv" / "bin" / "ansible"), "localhost", "-m", "slipway.infra.variant_hash", "-a", args,
            *flags]
    env = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
    try:
        data = json.loads(proc.stdout)
        result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        result = {}
    return proc.returncode, result, proc.stdout + proc.stderr


def test_check_mode_diff_then_write_then_idempotent(tmp_path: Path, home: Path) -> None:
    project = make_demo(tmp_path / "demo")
    code, res, out = adhoc(f"project_dir={project} write=true", "--check", "--diff")
    assert code == 0, out
    assert res["changed"] is True and not (project / HASHES_FILE).exists()
    assert "diff" in res and '"variants"' in res["diff"]["after"]  # type: ignore[index]
    assert set(res["hashes"]) == {"base", "dev", "ml"}  # type: ignore[arg-type]
    code, res, out = adhoc(f"project_dir={project} write=true")
    assert code == 0 and res["changed"] is True, out
    assert json.loads((project / HASHES_FILE).read_text())["variants"] == res["hashes"]
    code, res, out = adhoc(f"project_dir={project} write=true fail_on_stale=true")
    assert code == 0 and res["changed"] is False, out
    make_demo(project, gamma="1.1")
    code, res, out = adhoc(f"project_dir={project} fail_on_stale=true")
    assert code != 0 and "stale for variant(s) dev" in out


def test_bad_input_fails_naming_the_field(tmp_path: Path, home: Path) -> None:
    project = make_demo(tmp_path / "demo")
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + '\n[tool.slipway.variants.x]\nextends = "nope"\n')
    code, _res, out = adhoc(f"project_dir={project}")
    assert code != 0
    assert "tool.slipway.variants.x.extends: names an unknown variant 'nope'" in out

"""Every plugin of the collection documents itself: ansible-doc renders it with examples and return values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DOC = str(Path(sys.executable).parent / "ansible-doc")
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
OTHERS = [("filter", p.stem) for p in (REPO / "plugins" / "filter").glob("*.py")] + \
         [("lookup", p.stem) for p in (REPO / "plugins" / "lookup").glob("*.py")]


def doc(kind: str, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANSIBLE_DOC, "-t", kind, f"slipway.infra.{name}"], cwd=REPO, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("name", MODULES)
def test_module_doc_renders(name: str) -> None:
    out = doc("module", name)
    assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr
    for part in ("OPTIONS", "ATTRIBUTES", "EXAMPLES", "RETURN VALUES"):
        assert part in out.stdout, f"{name}: no {part}"
    assert "check_mode" in out.stdout


@pytest.mark.parametrize(("kind", "name"), OTHERS)
def test_other_plugin_doc_renders(kind: str, name: str) -> None:
    out = doc(kind, name)
    assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr

"""The collection as Ansible users get it: `ansible-galaxy collection build` ships only the collection's
parts, and `ansible-test sanity` (the pinned ansible-core's) passes on that tarball laid out as
``ansible_collections/slipway/infra``, with ``tests/sanity/ignore-2.NN.txt`` as its only waivers.

The Python package (src/), its tests, the Pulumi program and the benchmarks are not part of the
collection: ruff (line length 110) and mypy check them (tests/test_static.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())

# What a collection may hold at its top level (MANIFEST.json and FILES.json are written by the build).
ALLOWED_TOP = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "LICENSE", "requirements.txt",
               "bindep.txt", "plugins", "roles", "playbooks", "meta", "docs", "images", "inventory",
               "changelogs", "tests", "src"}
REQUIRED = {"LICENSE", "CHANGELOG.md", "README.md", "requirements.txt", "bindep.txt", "meta/runtime.yml",
            "meta/execution-environment.yml", "changelogs/config.yaml", "changelogs/changelog.yaml",
            "plugins/modules/vessel.py", "plugins/doc_fragments/attributes.py", "roles/kvm_host/tasks/main.yml",
            "playbooks/site.yml", "images/variant/Dockerfile", "src/slipway/gpu.py"}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("galaxy")
    res = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)],
                         cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    (tar,) = out.glob("slipway-infra-*.tar.gz")
    return tar


def test_tarball_holds_only_the_collection(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
    names = set(members)
    assert {n.split("/")[0] for n in names} <= ALLOWED_TOP, sorted({n.split("/")[0] for n in names} - ALLOWED_TOP)
    assert names >= REQUIRED, sorted(REQUIRED - names)
    unwanted = sorted(n for n in names if re.search(r"(^|/)(__pycache__|molecule|\.venv|\.ci|\.collections|"
                                                    r"pulumi|uv\.lock|pyproject\.toml|\.gitignore|"
                                                    r"\.plugin-cache\.yaml)(/|$)|\.pyc$", n))
    assert not unwanted, unwanted
    # src/ only holds the target of plugins/module_utils/gpu.py; tests/ only the sanity ignore files
    assert {n for n in names if n.startswith("src/") and members[n].isfile()} == {"src/slipway/gpu.py"}
    assert all(n == "tests" or n.startswith("tests/sanity") for n in names if n.split("/")[0] == "tests")
    for name, m in members.items():
        if m.issym():
            target = os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
            assert target in names and members[target].isfile(), f"{name} -> {m.linkname} is broken"
    info = manifest["collection_info"]
    assert info["license"] == ["Apache-2.0"] and info["dependencies"] == GALAXY["dependencies"]


def test_galaxy_dependencies_cover_the_roles_and_playbooks() -> None:
    """Every collection named by a FQCN in roles/ and playbooks/ is a galaxy.yml dependency."""
    used: set[str] = set()
    for path in [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml"),
                 *REPO.glob("playbooks/*.yml")]:
        used |= set(re.findall(r"^\s*(?:- )?([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:", path.read_text(), re.M))
    assert used - {"ansible.builtin", "slipway.infra"} == set(GALAXY["dependencies"])


def test_one_version() -> None:
    """galaxy.yml holds the version; the Python distribution reads it from there (hatch's version source),
    the EE's requirements.txt repeats it exactly."""
    import importlib.metadata

    version = GALAXY["version"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "galaxy.yml"
    assert importlib.metadata.version("slipway-infra") == version
    pins = re.findall(r"^slipway-infra(?:\[[a-z,]+\])?==(\S+)", (REPO / "requirements.txt").read_text(), re.M)
    assert pins == [version]
    releases = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())["releases"]
    assert version in releases or list((REPO / "changelogs" / "fragments").glob("*.yml")), \
        "an unreleased version needs changelog fragments"


def test_metadata_passes_yamllint() -> None:
    """The collection's and the Pulumi projects' YAML, with the repository's yamllint rules."""
    paths = ["galaxy.yml", "meta", "changelogs/config.yaml", "changelogs/changelog.yaml", "pulumi", "examples/pulumi"]
    res = subprocess.run([str(BIN / "yamllint"), "--strict", "-c", ".yamllint", *paths], cwd=REPO,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_sanity_ignore_files_agree() -> None:
    files = sorted((REPO / "tests" / "sanity").glob("ignore-2.*.txt"))
    assert [f.name for f in files] == ["ignore-2.17.txt", "ignore-2.18.txt", "ignore-2.19.txt"]
    assert len({f.read_text() for f in files}) == 1
    lines = files[0].read_text().splitlines()
    for line in lines:
        assert " # " in line and line.split(" # ", 1)[1].strip(), f"no reason given: {line}"
        assert (REPO / line.split()[0]).exists(), f"{line.split()[0]} does not exist: remove its line"
    # validate-modules asks every module and lookup for a GPLv3 header; the collection is Apache-2.0
    waived = {line.split()[0] for line in lines if "validate-modules:missing-gplv3-license" in line}
    plugins = {str(p.relative_to(REPO)) for kind in ("modules", "lookup")
               for p in (REPO / "plugins" / kind).glob("*.py") if p.name != "__init__.py"}
    assert plugins == waived, "add (or drop) the line for: " + ", ".join(
        f"{p} validate-modules:missing-gplv3-license # <the reason on the other lines>" for p in plugins ^ waived)


def _pip_bootstrap() -> None:
    """ansible-test bootstraps pip in its sanity venvs with a script from ci-files.testing.ansible.com,
    which this network cannot reach: a stand-in with the same interface (ensurepip's pip, then the
    pinned packages from the package index) goes where ansible-test caches the script."""
    import ansible_test

    src = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    version = re.search(r"pip='([0-9.]+)'", src)
    assert version, "ansible-test no longer names its pip version the way this test reads it"
    cached = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version[1].replace('.', '_')}.py"
    if cached.exists():
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(
        "# Stand-in for ansible-test's get-pip bootstrap (written by slipway's tests/unit/test_collection.py)\n"
        "import subprocess\nimport sys\n\n"
        "args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]\n"
        "subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)\n"
        "subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q', *args])\n")


def _shellcheck() -> None:
    """The shellcheck sanity test needs the program (the images' entry points are shell scripts)."""
    if shutil.which("shellcheck"):
        return
    apt = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "shellcheck"]
    if os.geteuid() != 0:
        apt = ["sudo", "-n", *apt]
    res = subprocess.run(apt, capture_output=True, text=True, check=False,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert res.returncode == 0 and shutil.which("shellcheck"), \
        f"shellcheck is needed by ansible-test sanity: install it (apt-get install shellcheck)\n{res.stderr}"


@pytest.mark.slow
def test_ansible_test_sanity(tarball: Path, tmp_path: Path) -> None:
    root = tmp_path / "ansible_collections" / "slipway" / "infra"
    root.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="tar")
    _pip_bootstrap()
    _shellcheck()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("ANSIBLE_CONFIG", None)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"  # the project's: 3.11
    res = subprocess.run([str(BIN / "ansible-test"), "sanity", "--local", "--python", python, "--color", "no"],
                         cwd=root, env=env, capture_output=True, text=True, check=False, timeout=1200)
    errors = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert res.returncode == 0, "\n".join(errors) or res.stdout[-4000:] + res.stderr[-4000:]


def test_installed_tarball_runs_a_module(tarball: Path, tmp_path: Path) -> None:
    """`ansible-galaxy collection install` of the tarball, then gpu_facts (whose module_utils/gpu.py is a
    link into src/) runs from the installed copy, outside the repository and its ansible.cfg."""
    dest = tmp_path / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_COLLECTIONS_PATH": str(dest), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    res = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(dest),
                          str(tarball)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    installed = dest / "ansible_collections" / "slipway" / "infra"
    assert (installed / "plugins" / "module_utils" / "gpu.py").resolve().is_file()
    res = subprocess.run([str(BIN / "ansible"), "localhost", "-c", "local", "-i", "localhost,", "-m",
                          "slipway.infra.gpu_facts"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False, timeout=120)
    assert res.returncode == 0 and "slipway_gpu_facts" in res.stdout, res.stdout[-3000:] + res.stderr[-3000:]
    assert str(installed) in subprocess.run([str(BIN / "ansible-doc"), "slipway.infra.vessel"], cwd=tmp_path,
                                            env=env, capture_output=True, text=True, check=False).stdout

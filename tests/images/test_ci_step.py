"""The CI step against a real registry (Debian docker-registry) and the real test dockerd.

First run builds and pushes every variant; the second builds nothing (<= 2 s); a dev-only bump
rebuilds dev only; an exp dependency rebuilds nothing; the built image really has the variant's
packages and installs the exp group at start.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from slipway.errors import ValidationError
from slipway.images.build import BuildOptions
from slipway.images.ci import CiSettings, run, table
from slipway.images.registry import OciRegistry, RegistryError
from tests.harness.dockerd import Dockerd
from tests.harness.registry import Registry
from tests.images.demo import make_demo

pytestmark = pytest.mark.docker


def settings(project: Path, repo: str, vessel_image: str, **kw: object) -> CiSettings:
    opts = BuildOptions(base_image=vessel_image, pip_args="--no-index", wheels_dir=project / "wheels")
    return CiSettings(repository=repo, build=opts, **kw)  # type: ignore[arg-type]


def actions(rows: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.variant: r.action for r in rows}


def tags(reg: Registry, repo: str) -> set[str]:
    r = requests.get(f"{reg.url}/v2/{repo}/tags/list", timeout=5)
    return set(r.json().get("tags") or []) if r.status_code == 200 else set()


def test_builds_once_then_only_what_changed(tmp_path: Path, registry: Registry, dockerd: Dockerd,
                                            vessel_image: str) -> None:
    project = make_demo(tmp_path / "demo")
    repo = "team/demo"
    client = dockerd.client()
    reg = OciRegistry(registry.url)
    try:
        first = run(project, reg, client, settings(project, repo, vessel_image, commit="abc1234", branch="main"))
        assert actions(first) == {"base": "pushed", "dev": "pushed", "ml": "pushed"}
        assert {r.tag for r in first} | {f"{r.variant}-abc1234" for r in first} <= tags(registry, repo)
        # built on main: <variant>-latest moves too (what the Batch job definitions point at)
        assert {f"{r.variant}-latest" for r in first} <= tags(registry, repo)
        print(table(first))

        second = run(project, reg, client, settings(project, repo, vessel_image))
        assert actions(second) == {"base": "unchanged", "dev": "unchanged", "ml": "unchanged"}
        assert sum(r.seconds for r in second) <= 2.0, table(second)
        assert [r.tag for r in second] == [r.tag for r in first]

        # the ml image really has its packages, from the dependency layer, and the project code
        ml = next(r for r in first if r.variant == "ml")
        out = client.containers.run(f"{registry.host}/{repo}:{ml.tag}",
                                    ["python3", "-c", "import alpha, beta, demo; print(alpha.VERSION, demo.GREETING)"],
                                    remove=True, network_mode="none")
        assert out.decode().strip() == "1.0 hello from demo"

        # bump a dev-only package: only dev is rebuilt
        make_demo(project, gamma="1.1")
        third = run(project, reg, client, settings(project, repo, vessel_image))
        assert actions(third) == {"base": "unchanged", "dev": "pushed", "ml": "unchanged"}

        # an exp dependency rebuilds nothing; the entrypoint installs it at start
        make_demo(project, gamma="1.1", exp=("delta==1.0",))
        fourth = run(project, reg, client, settings(project, repo, vessel_image, branch="feature/x"))
        assert actions(fourth) == {"base": "unchanged", "dev": "unchanged", "ml": "unchanged"}
        base = next(r for r in fourth if r.variant == "base")
        out = client.containers.run(f"{registry.host}/{repo}:{base.tag}",
                                    ["python3", "-c", "import delta; print(delta.VERSION)"], remove=True,
                                    network_mode="none", environment={"SLIPWAY_EXP": "delta==1.0",
                                                                      "SLIPWAY_PIP_ARGS": "--no-index"})
        assert out.decode().strip().splitlines()[-1] == "1.0"

        # ... but never on main
        with pytest.raises(ValidationError, match="exp group must be empty on 'main'.*delta==1.0"):
            run(project, reg, client, settings(project, repo, vessel_image, branch="main"))

        # force and salt: manual invalidation
        forced = run(project, reg, client, settings(project, repo, vessel_image, force=True, variants=["base"],
                                                    push=False))
        assert actions(forced) == {"base": "built"}
        salted = run(project, reg, client, settings(project, repo, vessel_image, salt="2024-06", push=False,
                                                    variants=["base"]))
        assert actions(salted) == {"base": "built"}
        assert salted[0].tag != base.tag
    finally:
        client.close()


def test_unreachable_registry_builds_and_pushes_nothing(tmp_path: Path, dockerd: Dockerd, vessel_image: str) -> None:
    from tests.harness.procs import free_port

    project = make_demo(tmp_path / "demo")
    client = dockerd.client()
    before = {t for i in client.images.list() for t in i.tags}
    try:
        reg = OciRegistry(f"http://127.0.0.1:{free_port()}", timeout=2)
        with pytest.raises(RegistryError, match="is unreachable"):
            run(project, reg, client, settings(project, "team/nowhere", vessel_image))
        after = {t for i in client.images.list() for t in i.tags}
        assert not {t for t in after - before if "nowhere" in t}
    finally:
        client.close()


def test_bad_input_names_the_field(tmp_path: Path, registry: Registry, dockerd: Dockerd, vessel_image: str) -> None:
    project = make_demo(tmp_path / "demo")
    client = dockerd.client()
    try:
        reg = OciRegistry(registry.url)
        with pytest.raises(ValidationError, match="repository: must be an image repository name"):
            run(project, reg, client, settings(project, "Team/UPPER", vessel_image))
        with pytest.raises(ValidationError, match="variant: unknown variant 'gpu'.*allowed: base, dev, ml"):
            run(project, reg, client, settings(project, "team/x", vessel_image, variants=["gpu"]))
        assert not tags(registry, "team/x")
    finally:
        client.close()
    shutil.rmtree(project)
    with pytest.raises(ValidationError, match="registry: must be an http"):
        OciRegistry("ftp://example")

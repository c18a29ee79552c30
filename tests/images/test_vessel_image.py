"""`-e image=ml` -> the vessel layer of the variant's current image, checked on a real registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from slipway.errors import NotFound, ValidationError
from slipway.images.registry import OciRegistry
from slipway.images.vessel_image import LAYER_DOCKERFILE, is_variant_name, resolve_vessel_image
from slipway.variants.hashing import salted, tag_for
from slipway.variants.service import compute
from tests.harness.registry import Registry
from tests.images.demo import make_demo


def put_manifest(url: str, repository: str, tag: str) -> None:
    """A minimal OCI image (empty config, no layers) pushed through the distribution API."""
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    up = requests.post(f"{url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert up.status_code == 202, up.text
    loc = up.headers["Location"]
    loc = loc if loc.startswith("http") else url + loc
    sep = "&" if "?" in loc else "?"
    assert requests.put(f"{loc}{sep}digest={digest}", data=config, timeout=10,
                        headers={"Content-Type": "application/octet-stream"}).status_code == 201
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
                           "size": len(config)}, "layers": []}
    r = requests.put(f"{url}/v2/{repository}/manifests/{tag}", data=json.dumps(manifest), timeout=10,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text


def test_a_variant_name_resolves_to_its_current_vessel_tag(tmp_path: Path, registry: Registry) -> None:
    demo = make_demo(tmp_path / "demo")
    want = {r.variant.name: r.hash for r in compute(demo)}
    ref = resolve_vessel_image("ml", project_dir=demo, registry_host=registry.host, repository="team/app")
    assert ref == f"{registry.host}/team/app-vessel:{tag_for('ml', want['ml'])}"
    salted_ref = resolve_vessel_image("ml", project_dir=demo, registry_host=registry.host, repository="team/app",
                                      salt="s1")
    assert salted_ref.endswith(f":{tag_for('ml', salted(want['ml'], 's1'))}")
    # on the host's registry: refused until the image step has pushed it, then found
    reg = OciRegistry(registry.url)
    with pytest.raises(NotFound, match="has not built variant 'ml'"):
        resolve_vessel_image("ml", project_dir=demo, registry_host=registry.host, repository="team/app",
                             registry=reg)
    put_manifest(registry.url, "team/app-vessel", ref.rsplit(":", 1)[1])
    assert resolve_vessel_image("ml", project_dir=demo, registry_host=registry.host, repository="team/app",
                                registry=reg) == ref
    # a lock change moves the tag: the old vessel image is no longer "ml"
    make_demo(demo, alpha="1.1")
    assert resolve_vessel_image("ml", project_dir=demo, registry_host=registry.host, repository="team/app") != ref


def test_names_and_image_references(tmp_path: Path) -> None:
    demo = make_demo(tmp_path / "demo")
    assert is_variant_name("ml") and not is_variant_name("debian:bookworm") and not is_variant_name("team/app")
    with pytest.raises(ValidationError, match="image: names no variant of demo/pyproject.toml.*allowed: base, dev, ml"):
        resolve_vessel_image("gpu", project_dir=demo, registry_host="r", repository="team/app")
    with pytest.raises(ValidationError, match="is an image reference"):
        resolve_vessel_image("debian:bookworm", project_dir=demo, registry_host="r", repository="team/app")
    text = LAYER_DOCKERFILE.read_text()
    assert "ARG VARIANT_IMAGE" in text and "openssh-server" in text and "/opt/venv/bin/pip install" in text


def test_launch_settings_turn_a_variant_name_into_its_vessel_image(tmp_path: Path) -> None:
    from slipway.config import load_settings
    from slipway.usecases import variant_image

    demo = make_demo(tmp_path / "demo")
    s = load_settings({"variant_project": str(demo), "image_registry": "127.0.0.1:5000",
                       "image_repository": "team/app"}, env={})
    want = resolve_vessel_image("ml", project_dir=demo, registry_host="127.0.0.1:5000", repository="team/app")
    assert variant_image(s, "ml") == want  # `-e image=ml`
    assert variant_image(s, "slipway/vessel:latest") == "slipway/vessel:latest"  # an image stays an image
    assert variant_image(load_settings(env={}), "ml") == "ml"  # no team project configured
    with pytest.raises(ValidationError, match="slipway_image_registry: image 'ml' is a variant"):
        variant_image(load_settings({"variant_project": str(demo)}, env={}), "ml")

"""Slipway's runs image (images/runs) in a test dockerd: built once, cached.

The tag carries a hash of everything that goes into the image (Dockerfile, build script, the runner's
source files), so a change to the runner rebuilds it and an unchanged tree reuses it. The built image
is also saved under the test cache, so a session that gets another dockerd data-root loads it in
seconds instead of building it again (the pip layer with DVC takes minutes).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess

import docker

from tests.harness.dockerd import Dockerd
from tests.harness.procs import CACHE, REPO

IMAGE_DIR = REPO / "images" / "runs"
SOURCES = ("__init__.py", "errors.py", "cli.py", "notify.py")
#: the runner's modules the image holds (images/runs/build.sh copies the same list)
RUNNER = ("__init__.py", "cli.py", "job.py", "aws.py", "keywords.py", "plan.py")


def image_hash() -> str:
    h = hashlib.sha256()
    files = [IMAGE_DIR / "Dockerfile", IMAGE_DIR / "build.sh", IMAGE_DIR / "slipway.sh"]
    files += [REPO / "src" / "slipway" / f for f in SOURCES]
    files += [REPO / "src" / "slipway" / "runs" / f for f in RUNNER]
    for f in files:
        h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ensure_runs_image(d: Dockerd) -> str:
    tag = f"slipway/runs:t-{image_hash()}"
    client = d.client()
    try:
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        CACHE.mkdir(parents=True, exist_ok=True)
        tar = CACHE / f"runs-image-{tag.split(':')[1]}.tar"
        with open(CACHE / "runs-image.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if tar.exists():
                with open(tar, "rb") as fh:
                    client.images.load(fh)
                return tag
            env = {**os.environ, "DOCKER_HOST": d.url}
            proc = subprocess.run(["bash", str(IMAGE_DIR / "build.sh"), tag], env=env, capture_output=True,
                                  text=True, check=False, timeout=1500)
            if proc.returncode != 0:
                raise RuntimeError(f"building {tag} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            for old in CACHE.glob("runs-image-*.tar"):
                old.unlink()
            part = tar.with_suffix(".part")
            with open(part, "wb") as fh:
                for chunk in client.images.get(tag).save(named=True):
                    fh.write(chunk)
            part.rename(tar)
        return tag
    finally:
        client.close()

"""Headless Chromium (Debian ``chromium``) driven by PyPI ``playwright`` without ``playwright install``.

The package is installed by the test set-up when missing (``apt-get install chromium``; it is also in
scripts/debian-packages.txt); no browser is ever downloaded.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.harness.procs import CACHE

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


def ensure_chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.fail("chromium is missing and apt-get is not available: install Debian package 'chromium'",
                    pytrace=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(CHROMIUM, os.X_OK):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
                               capture_output=True, text=True, env=env, check=False)
            if r.returncode != 0:
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
                r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
                                   capture_output=True, text=True, env=env, check=False)
            if r.returncode != 0:
                pytest.fail(f"apt-get install chromium failed:\n{r.stderr[-2000:]}", pytrace=False)
    return CHROMIUM


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()

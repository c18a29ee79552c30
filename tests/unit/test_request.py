"""Request validation: every bad field gets an error naming it and what is allowed."""

from __future__ import annotations

import pytest

from slipway.errors import ValidationError
from slipway.request import build_request, parse_size_mib

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx5 alice@laptop"


def req(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {"user": "alice", "ssh_public_key": KEY}
    base.update(kw)
    return build_request(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("gpus", -1, "gpus: out of range"),
    ("gpus", "abc", "gpus: must be a whole number"),
    ("gpus", "1.5", "gpus: must be a whole number"),
    ("gpus", True, "gpus: must be a whole number"),
    ("gpus", "-3", "gpus: out of range"),
    ("cpus", 0, "cpus: out of range"),
    ("cpus", "many", "cpus: must be a whole number"),
    ("memory", "-4", "memory: must be a size"),
    ("memory", "12 parsecs", "memory: unknown unit"),
    ("memory", 0, "memory: must be more than 0"),
    ("name", "Bad_Name", "name: not a valid vessel name"),
    ("name", "ends-", "name: not a valid vessel name"),
    ("user", "Robert'); DROP", "user: not a valid user name"),
    ("queue", "A100!", "queue: not a valid queue name"),
    ("image", "no spaces allowed", "image: not a valid image reference"),
    ("ssh_public_key", "hello", "ssh_public_key: not an OpenSSH public key line"),
    ("shm_size", "64G", "shm_size: cannot exceed"),
])
def test_bad_input_names_the_field_and_what_is_allowed(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        req(**{field: value})
    assert str(err.value).startswith(words)
    assert err.value.field == field
    assert "allowed" in str(err.value)


def test_missing_key_says_how_to_get_one() -> None:
    with pytest.raises(ValidationError, match="ssh_public_key: is required.*id_ed25519.pub"):
        build_request(user="alice", ssh_public_key="")


def test_strings_from_extra_vars_are_accepted() -> None:
    r = req(gpus="2", cpus="8", memory="64", name="exp-1")
    assert (r.gpus, r.cpus, r.memory_mib, r.name) == (2, 8, 64 * 1024, "exp-1")
    assert r.shm_mib == 16 * 1024  # a quarter of the memory by default


def test_without_a_name_the_service_names_it() -> None:
    # the service gives it <user>-<n>, the same name in check mode and in the launch (tests/unit/test_launch.py)
    assert req().name == ""


@pytest.mark.parametrize(("text", "mib"), [("16", 16384), ("16G", 16384), ("16GiB", 16384), ("512M", 512),
                                           ("1T", 1048576), (0.5, 512), (2, 2048)])
def test_sizes(text: object, mib: int) -> None:
    assert parse_size_mib("memory", text) == mib

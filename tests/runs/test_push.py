"""Push payload parsing: any JSON is a list of commits or our ValidationError (the webhook's 400)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slipway.errors import ValidationError
from slipway.runs.push import (
    bitbucket_commits,
    github_commits,
    github_signature,
    github_signature_ok,
    uuid_ok,
)

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=12)
_COMMIT = st.fixed_dictionaries({"id": _JSON | st.text(max_size=12), "message": _JSON | st.text(), "author": _JSON})
_GITHUB = st.fixed_dictionaries({"ref": _JSON | st.just("refs/heads/main"),
                                 "repository": _JSON | st.fixed_dictionaries({"name": _JSON | st.just("r")}),
                                 "commits": _JSON | st.lists(_COMMIT | _JSON, max_size=3)})
_BB_COMMIT = st.fixed_dictionaries({"hash": _JSON | st.text(max_size=12), "message": _JSON})
_BITBUCKET = st.fixed_dictionaries({
    "repository": _JSON | st.fixed_dictionaries({"name": _JSON | st.just("r")}),
    "push": _JSON | st.fixed_dictionaries({"changes": _JSON | st.lists(st.fixed_dictionaries({
        "new": _JSON | st.fixed_dictionaries({"type": st.just("branch") | _JSON, "name": _JSON | st.just("main"),
                                              "target": _BB_COMMIT | _JSON}),
        "commits": _JSON | st.lists(_BB_COMMIT | _JSON, max_size=3)}), max_size=2)})})


@settings(max_examples=300, deadline=None)
@given(payload=_JSON | _GITHUB)
def test_github_payloads(payload: Any) -> None:
    try:
        commits = github_commits(payload)
    except ValidationError:
        return
    assert all(isinstance(c.sha, str) and isinstance(c.message, str) for c in commits)


@settings(max_examples=300, deadline=None)
@given(payload=_JSON | _BITBUCKET)
def test_bitbucket_payloads(payload: Any) -> None:
    try:
        commits = bitbucket_commits(payload)
    except ValidationError:
        return
    assert len({c.sha for c in commits}) == len(commits)  # each commit once


def test_signature_and_uuid_checks() -> None:
    body = b'{"a": 1}'
    good = github_signature("s", body)
    assert github_signature_ok(["old", "s"], body, good)  # rotation: any configured secret
    assert not github_signature_ok(["s"], body + b" ", good)
    assert not github_signature_ok([""], body, github_signature("", body))  # an empty secret never matches
    assert not github_signature_ok(["s"], body, "sha256=\u00e9")
    assert uuid_ok(["{ABC-1}"], "abc-1") and not uuid_ok(["{abc-1}"], "abc-2") and not uuid_ok([], "x")


def test_github_new_branch_push_considers_the_head_commit() -> None:
    head = {"id": "abcdef0", "message": ":SLIPWAY_RUN:", "author": {"username": "ada"}}
    payload = {"ref": "refs/heads/exp", "repository": {"name": "r"}, "commits": [], "head_commit": head}
    assert [(c.sha, c.branch, c.author) for c in github_commits(payload)] == [("abcdef0", "exp", "ada")]
    payload["commits"] = [head]
    assert len(github_commits(payload)) == 1
    assert github_commits({**payload, "deleted": True}) == []
    assert github_commits({**payload, "ref": "refs/tags/v1"}) == []

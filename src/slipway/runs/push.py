"""Push events of GitHub and Bitbucket (pure): the commits a push carries, and who may send one.

Every commit of a push is returned (a push can carry several), oldest first. Malformed payloads raise
``ValidationError`` naming the field; the webhook answers those with 400.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from slipway.errors import ValidationError
from slipway.runs.plan import Commit


def _get(data: Any, path: str, kind: type | tuple[type, ...] = str, *, required: bool = True) -> Any:
    value = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if required:
                raise ValidationError(path, "is missing from the push payload")
            return None
        value = value[part]
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise ValidationError(path, "has the wrong type in the push payload", got=type(value).__name__)
    return value


def github_commits(payload: Any) -> list[Commit]:
    """``push`` event of GitHub: ``repository``, ``ref``, ``commits[]`` (``id``, ``message``, ``author``)."""
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "is not a JSON object")
    repo = _get(payload, "repository.name")
    clone_url = _get(payload, "repository.clone_url", required=False) or ""
    ref = _get(payload, "ref")
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    if payload.get("deleted") is True or not branch:
        return []  # a deleted branch or a tag push: nothing to run
    commits = list(_get(payload, "commits", list))
    head = payload.get("head_commit")
    if isinstance(head, Mapping) and head.get("id") not in {c.get("id") for c in commits if isinstance(c, Mapping)}:
        commits.append(head)  # a new branch of existing commits: GitHub lists none, the head is still pushed
    out: list[Commit] = []
    for i, c in enumerate(commits):
        if not isinstance(c, Mapping):
            raise ValidationError(f"commits[{i}]", "is not an object")
        author: Any = c.get("author")
        if not isinstance(author, Mapping):
            author = {}
        who = str(author.get("username") or author.get("email") or author.get("name") or "")
        out.append(Commit(repo=repo, sha=str(_get(c, "id")).lower(), message=_get(c, "message"),
                          branch=branch, author=who, clone_url=str(clone_url)))
    return out


def bitbucket_commits(payload: Any) -> list[Commit]:
    """``repo:push`` of Bitbucket Cloud: ``push.changes[]``, each with ``new`` (branch and head commit)
    and ``commits[]`` (newest first; Bitbucket truncates long lists: the head is always considered)."""
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "is not a JSON object")
    repo = _get(payload, "repository.name")
    clone_url = _get(payload, "repository.links.html.href", required=False) or ""
    changes = _get(payload, "push.changes", list)
    out: list[Commit] = []
    seen: set[str] = set()
    for i, change in enumerate(changes):
        if not isinstance(change, Mapping):
            raise ValidationError(f"push.changes[{i}]", "is not an object")
        new = change.get("new")
        if not isinstance(new, Mapping) or new.get("type") != "branch":
            continue  # branch deleted, or a tag
        branch = _get(new, "name")
        listed: Any = change.get("commits")
        candidates: list[Any] = [*reversed(listed)] if isinstance(listed, list) else []
        if isinstance(new.get("target"), Mapping):
            candidates.append(new["target"])
        for c in candidates:
            if not isinstance(c, Mapping):
                raise ValidationError(f"push.changes[{i}].commits", "holds something that is not an object")
            sha = str(_get(c, "hash")).lower()
            if sha in seen:
                continue
            seen.add(sha)
            author = c.get("author")
            if not isinstance(author, Mapping):
                author = {}
            user: Any = author.get("user")
            if not isinstance(user, Mapping):
                user = {}
            who = str(user.get("nickname") or author.get("raw") or "")
            out.append(Commit(repo=repo, sha=sha, message=str(c.get("message") or ""), branch=branch,
                              author=who, clone_url=str(clone_url)))
    return out


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_signature_ok(secrets: Iterable[str], body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256`` against every configured secret (rotation), in constant time each."""
    ok = False
    for secret in secrets:
        if secret and hmac.compare_digest(github_signature(secret, body).encode(), header.encode()):
            ok = True
    return ok


def uuid_ok(authorised: Iterable[str], header: str) -> bool:
    """``X-Hook-UUID`` against the authorised list (constant time each; braces and case ignored)."""
    got = header.strip().strip("{}").lower().encode()
    ok = False
    for u in authorised:
        if hmac.compare_digest(str(u).strip().strip("{}").lower().encode(), got):
            ok = True
    return ok

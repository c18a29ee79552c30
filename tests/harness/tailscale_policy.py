"""A local stand-in for the Tailscale API's policy-file endpoints (documented behaviour):

  GET  /api/v2/tailnet/{tailnet}/acl            the HuJSON text (Accept: application/hujson) and its ETag
  POST /api/v2/tailnet/{tailnet}/acl/validate   200 {} when valid, else 200 {"message": ..., "data": [...]}
  POST /api/v2/tailnet/{tailnet}/acl            If-Match must equal the current ETag (else 412); stores it

Validation parses the HuJSON (comments, trailing commas) with its own small parser and checks what the real
one refuses too: every tag a grant or ACL names must be in tagOwners, every group it names in groups.
``edit(text)`` is someone else's concurrent change (the ETag moves).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _strip(text: str) -> str:
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text[i:i + 2] == "//":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif text[i:i + 2] == "/*":
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(c)
        i += 1
    return re.sub(r",(\s*[\]}])", r"\1", "".join(out))


def problems(text: str) -> list[str]:
    try:
        doc = json.loads(_strip(text))
    except (ValueError, IndexError) as exc:
        return [f"invalid HuJSON: {exc}"]
    if not isinstance(doc, dict):
        return ["the policy must be an object"]
    tags = set((doc.get("tagOwners") or {}).keys())
    groups = set((doc.get("groups") or {}).keys())
    out = []
    for rule in list(doc.get("grants") or []) + list(doc.get("acls") or []):
        for name in list(rule.get("src") or []) + list(rule.get("dst") or []):
            base = name.split(":")[0] + ":" + name.split(":")[1] if name.count(":") >= 2 else name
            if base.startswith("tag:") and base not in tags:
                out.append(f"tag {base!r} is not in tagOwners")
            if base.startswith("group:") and base not in groups:
                out.append(f"group {base!r} is not defined")
    return out


class PolicyStandIn:
    def __init__(self, policy: str, tailnet: str = "example.com") -> None:
        self.api_key = "tskey-api-" + secrets.token_hex(12)
        self.tailnet = tailnet
        self.policy = policy
        self.calls: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json",
                      etag: str | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                if self.headers.get("Authorization") != f"Bearer {outer.api_key}":
                    return self._send(401, b'{"message":"API token invalid"}')
                base = f"/api/v2/tailnet/{outer.tailnet}/acl"
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                with outer.lock:
                    outer.calls.append(f"{method} {self.path.removeprefix(base) or '/'}")
                    if method == "GET" and self.path == base:
                        return self._send(200, outer.policy.encode(), "application/hujson", outer.etag)
                    if method == "POST" and self.path == base + "/validate":
                        errs = problems(body)
                        msg = {"message": "policy is invalid", "data": errs} if errs else {}
                        return self._send(200, json.dumps(msg).encode())
                    if method == "POST" and self.path == base:
                        if self.headers.get("If-Match") != outer.etag:
                            return self._send(412, b'{"message":"precondition failed, invalid old hash"}')
                        if problems(body):
                            return self._send(400, json.dumps({"message": "; ".join(problems(body))}).encode())
                        outer.policy = body
                        return self._send(200, body.encode(), "application/hujson", outer.etag)
                return self._send(404, b'{"message":"not found"}')

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.policy.encode()).hexdigest()[:16] + '"'

    def edit(self, text: str) -> None:
        with self.lock:
            self.policy = text

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

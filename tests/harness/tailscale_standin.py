"""A small local stand-in for the documented Tailscale API v2 endpoints Slipway uses.

  POST   /api/v2/tailnet/{tailnet}/keys          create an auth key (capabilities.devices.create...)
  DELETE /api/v2/tailnet/{tailnet}/keys/{id}     revoke it
  GET    /api/v2/tailnet/{tailnet}/devices       {"devices": [...]}
  DELETE /api/v2/device/{id}                     delete a device

Test-only: ``POST /test/join {"authkey", "hostname"}`` is what a node does when it runs
``tailscale up --auth-key``: with a valid, unused (single-use) key it becomes a device with a
100.64.x.y address. ``fail`` makes the next matching call answer 500 (for rollback tests).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class State:
    api_key: str
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # "POST keys" -> times to fail
    next_ip: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)


class StandIn:
    def __init__(self) -> None:
        self.state = State(api_key="tskey-api-" + secrets.token_hex(12))
        st = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _route(self, method: str) -> None:
                parts = self.path.strip("/").split("/")
                with st.lock:
                    if parts[:2] == ["test", "join"]:
                        return self._join(self._body())
                    if self.headers.get("Authorization") != f"Bearer {st.api_key}":
                        return self._send(401, {"message": "API token invalid"})
                    kind = parts[4] if len(parts) > 4 else parts[2] if len(parts) > 2 else ""
                    st.calls.append((method, "/".join(parts[2:])))
                    tag = f"{method} {kind}"
                    if st.fail.get(tag, 0) > 0:
                        st.fail[tag] -= 1
                        return self._send(500, {"message": "injected failure"})
                    if parts[:3] == ["api", "v2", "tailnet"] and kind == "keys":
                        if method == "POST":
                            return self._create_key(self._body())
                        if method == "DELETE" and len(parts) == 6:
                            k = st.keys.pop(parts[5], None)
                            return self._send(200 if k else 404, {} if k else {"message": "not found"})
                    if parts[:3] == ["api", "v2", "tailnet"] and kind == "devices" and method == "GET":
                        return self._send(200, {"devices": list(st.devices.values())})
                    if parts[:3] == ["api", "v2", "device"] and method == "DELETE":
                        d = st.devices.pop(parts[3], None)
                        return self._send(200 if d else 404, {} if d else {"message": "not found"})
                return self._send(404, {"message": "no such endpoint"})

            def _create_key(self, body: dict[str, Any]) -> None:
                kid = "k" + secrets.token_hex(6)
                key = f"tskey-auth-{kid}-" + secrets.token_hex(16)
                st.keys[kid] = {"id": kid, "key": key, "body": body, "used": False}
                self._send(200, {"id": kid, "key": key, "capabilities": body.get("capabilities"),
                                 "expirySeconds": body.get("expirySeconds")})

            def _join(self, body: dict[str, Any]) -> None:
                k = next((k for k in st.keys.values() if k["key"] == body.get("authkey")), None)
                if k is None or k["used"]:
                    return self._send(403, {"message": "invalid or used key"})
                caps = k["body"]["capabilities"]["devices"]["create"]
                if not caps.get("reusable"):
                    k["used"] = True
                did = "n" + secrets.token_hex(6)
                ip = f"100.64.0.{st.next_ip}"
                st.next_ip += 1
                host = body.get("hostname", "node")
                st.devices[did] = {"id": did, "nodeId": did, "hostname": host, "name": f"{host}.tail-test.ts.net",
                                   "addresses": [ip], "tags": caps.get("tags", []),
                                   "ephemeral": caps.get("ephemeral"), "keyId": k["id"]}
                self._send(200, {"id": did, "ip": ip})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Fake tailscale/tailscaled for a test image: `tailscale up` joins through the stand-in's /test/join.
FAKE_TAILSCALED = """#!/usr/bin/python3
import socket, sys, os, time
path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--socket="))
os.makedirs(os.path.dirname(path), exist_ok=True)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1)
while True:
    time.sleep(3600)
"""

FAKE_TAILSCALE = """#!/usr/bin/python3
import json, sys, urllib.request
args = dict(a.split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
key = args["--auth-key"]
if key.startswith("file:"):
    key = open(key[5:]).read().strip()
req = urllib.request.Request("{url}/test/join", method="POST",
                             data=json.dumps({{"authkey": key, "hostname": args["--hostname"]}}).encode(),
                             headers={{"Content-Type": "application/json"}})
urllib.request.urlopen(req, timeout=10).read()
print("Success.")
"""

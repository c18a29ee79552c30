"""A Slack incoming-webhook stand-in: records every POST on 127.0.0.1 and answers like Slack ("ok").

The webhook path carries a random secret, as Slack's does, so tests can check it never leaks.
``fail_with`` makes it answer an error status (Slack down / webhook revoked).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Post:
    path: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))


@dataclass
class SlackReceiver:
    posts: list[Post] = field(default_factory=list)
    fail_with: int | None = None
    secret: str = field(default_factory=lambda: secrets.token_hex(12))

    def __post_init__(self) -> None:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if rec.fail_with:
                    self.send_response(rec.fail_with)
                    self.end_headers()
                    self.wfile.write(b"invalid_token")
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b"invalid_payload")
                    return
                rec.posts.append(Post(self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/services/T0SLIPWAY/B0UNDERTAKER/{self.secret}"

    def texts(self) -> list[str]:
        return [p.text for p in self.posts]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

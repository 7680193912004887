"""A local HTTP receiver standing in for a Slack/Teams incoming webhook (test helper)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    """Where the webhook answers, what it received, and the status it answers with."""

    url: str
    posts: list[dict] = field(default_factory=list)
    status: int = 200


@contextmanager
def webhook_receiver(path: str = "/services/T000/B000/secret") -> Iterator[Receiver]:
    """Serve POST ``path`` on loopback; each JSON body is kept in ``receiver.posts``."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == path and self.headers.get("Content-Type") == "application/json":
                receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
            else:
                self.send_response(404)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}{path}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

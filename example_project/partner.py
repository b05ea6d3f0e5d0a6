"""A stand-in for a third-party ticketing partner: an HTTP service on 127.0.0.1.

Real platforms ask a partner's API for live seat availability; this one
answers ``GET /availability/<slug>`` after :data:`LATENCY_MS` milliseconds,
with a number derived from the slug (so payloads are the same on every run).
It is started on first use, in a daemon thread of the current process, so
``runserver``, ``perfaudit audit`` and ``compare``'s children each get their
own and nothing outlives them. ``EXAMPLE_PARTNER_URL`` points the project at
another service instead.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

LATENCY_MS: Final = 40

_lock = threading.Lock()
_url: str | None = None


class _Partner(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        slug = self.path.rsplit("/", 1)[-1].split("?", 1)[0]
        time.sleep(LATENCY_MS / 1000.0)
        body = json.dumps({"slug": slug, "seats": zlib.crc32(slug.encode()) % 200}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def url() -> str:
    """The partner's base URL, starting the local service if needed."""
    global _url
    configured = os.environ.get("EXAMPLE_PARTNER_URL")
    if configured:
        return configured.rstrip("/")
    with _lock:
        if _url is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Partner)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            _url = f"http://127.0.0.1:{server.server_address[1]}"
    return _url

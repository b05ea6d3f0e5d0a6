"""A real HTTP server on 127.0.0.1 for the outbound-HTTP tests: the "third party".

Threaded (one thread per connection, at most :data:`MAX_THREADS` at once:
more wait for a slot) and stopped by the fixture that started it.

Paths: ``/ok`` answers 200 with a small JSON body; ``/slow?ms=N`` waits N
milliseconds (at most 2 s) first; ``/status/N`` answers with status N;
``/echo`` answers with the request's path and query string.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_THREADS = 8


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        status, body = 200, {"ok": True}
        if parts.path == "/slow":
            ms = min(float(parse_qs(parts.query).get("ms", ["50"])[0]), 2000.0)
            time.sleep(ms / 1000.0)
        elif parts.path.startswith("/status/"):
            status = int(parts.path.rsplit("/", 1)[1])
            body = {"status": status}
        elif parts.path == "/echo":
            body = {"path": parts.path, "query": parts.query}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _BoundedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.slots = threading.BoundedSemaphore(MAX_THREADS)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


@contextmanager
def serve() -> Iterator[str]:
    """Run the server for the block; yields its base URL (``http://127.0.0.1:PORT``)."""
    server = _BoundedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""The middleware under real servers: gunicorn with threads, uvicorn.

2,000 requests, 64 at a time, against a server on 127.0.0.1 started and
stopped by the test. The reporting runs on ``response.close()``, after the
server has sent the response; these tests check that under that load every
request is still reported exactly once, with its own count:

* each response's ``X-PerfAudit-Queries`` is the count its URL asked for;
* the server's store (``/stats/``) has every request, none dropped;
* the JSONL file, read after a graceful shutdown, holds one line per request
  with its own path and count, and shapes adding up to it (no cross-talk).

Marked ``servers`` so a quick local run can deselect them (``-m "not servers"``).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

pytestmark = pytest.mark.servers

REQUESTS = 2_000
CONCURRENCY = 64
ROOT = Path(__file__).resolve().parent.parent


def _urls(async_views: bool) -> list[str]:
    # Counts 0..16 (sync) and 0..12 (async), interleaved, so neighbours differ.
    if async_views:
        return [f"/mw/an/{i % 13}/" if i % 2 else f"/mw/n/{i % 11}/" for i in range(REQUESTS)]
    return [f"/mw/n/{i % 17}/" for i in range(REQUESTS)]


def _k(path: str) -> int:
    return int(path.rstrip("/").rsplit("/", 1)[1])


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a server process: its settings, database and JSONL file."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "PERFAUDIT_SERVER_JSONL": str(tmp_path / "requests.jsonl"),
        "PYTHONPATH": str(ROOT),
    }
    # A SQLite file of the server's own, with the tables (see tests/server_settings.py).
    env["PERFAUDIT_SERVER_DB"] = str(tmp_path / "server.sqlite3")
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v", "0"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return env


class Server:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        argv = [part.replace("{fd}", str(fd)) for part in command]
        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(argv, env=env, cwd=ROOT, pass_fds=(fd,), stderr=stderr)
        self.sock.close()  # the server has its own copy

    def get(self, conn: http.client.HTTPConnection, path: str) -> tuple[dict[str, str], Any]:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, self.stderr())
        return {k.lower(): v for k, v in response.getheaders()}, orjson.loads(body)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited: {self.stderr()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.get(conn, "/stats/")
                conn.close()
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        pytest.fail("the server did not answer within a minute")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): in-flight requests, and their reporting, finish."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                pytest.fail("the server did not stop within 30 s of SIGTERM")

    def stderr(self) -> str:
        """The end of what the server wrote to stderr (its errors' tracebacks)."""
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def start(server_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def start(command: str) -> Server:
        """``command``: the server's module and arguments, run with this Python."""
        log = tmp_path / f"server-{len(servers)}.log"
        server = Server([sys.executable, "-m", *command.split()], server_env, log)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


def _hammer(server: Server, urls: list[str]) -> list[tuple[str, int, int]]:
    """GET every URL, CONCURRENCY at a time, one keep-alive connection per client thread."""
    local = threading.local()

    def fetch(url: str) -> tuple[str, int, int]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            headers, body = server.get(conn, url)
        except (ConnectionError, http.client.RemoteDisconnected):
            # A server may close an idle keep-alive connection: reconnect once.
            conn.close()
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            headers, body = server.get(conn, url)
        return url, int(headers["x-perfaudit-queries"]), body["k"]

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(fetch, urls))


def _check(server: Server, urls: list[str], jsonl: Path) -> None:
    results = _hammer(server, urls)
    assert len(results) == len(urls)
    for url, header, k in results:
        assert header == k == _k(url), url

    # The store: every request aggregated once the deferred work has run (it
    # runs after the client has its response, so give it a moment).
    want = Counter(url.split("/")[2] for url in urls)  # "n" / "an"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        _, stats = server.get(conn, "/stats/")
        got = {view: v["requests"] for view, v in stats["views"].items() if view != "stats"}
        if got == {f"mw:{'async-n' if k == 'an' else 'n'}": n for k, n in want.items()}:
            break
        assert time.monotonic() < deadline, f"store after 30 s: {got}, want {want}"
        time.sleep(0.2)
    assert stats["dropped"] == 0
    conn.close()

    server.stop()
    lines = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    lines = [line for line in lines if line["path"] != "/stats/"]
    assert sorted((line["path"], line["queries"]) for line in lines) == sorted(
        (url, _k(url)) for url in urls
    )
    for line in lines:
        assert sum(shape["count"] for shape in line["shapes"]) == line["queries"]
        assert "dropped" not in line


def test_gunicorn_threads_report_every_request_exactly(
    start: Any, server_env: dict[str, str]
) -> None:
    server = start(
        "gunicorn tests.server_app:wsgi --bind fd://{fd} --workers 1 --worker-class gthread "
        "--threads 16 --keep-alive 30 --graceful-timeout 20 --log-level warning"
    )
    _check(server, _urls(async_views=False), Path(server_env["PERFAUDIT_SERVER_JSONL"]))


def test_uvicorn_reports_every_request_exactly(start: Any, server_env: dict[str, str]) -> None:
    server = start(
        "uvicorn tests.server_app:asgi --fd {fd} --workers 1 --no-access-log "
        "--log-level warning --timeout-keep-alive 30 --timeout-graceful-shutdown 20"
    )
    _check(server, _urls(async_views=True), Path(server_env["PERFAUDIT_SERVER_JSONL"]))

"""Outbound HTTP capture against a real server on 127.0.0.1: requests, httpx, httpx async."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
import requests
import urllib3
from django.test import override_settings

import perfaudit
from tests.helpers import line_of
from tests.http_service import closed_port, serve

HERE = __file__


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve() as url:
        yield url


def test_requests_through_urllib3(service: str) -> None:
    port = service.rsplit(":", 1)[1]
    with perfaudit.record() as rec:
        answer = requests.get(f"{service}/echo?token=s3cret", timeout=5)  # http:requests
        assert answer.json() == {"path": "/echo", "query": "token=s3cret"}
        requests.post(f"{service}/status/503", timeout=5)
    first, second = rec.http
    assert (first.client, first.method, first.url, first.status) == (
        "urllib3",
        "GET",
        f"http://127.0.0.1:{port}",
        200,
    )
    assert (second.method, second.status, second.error) == ("POST", 503, None)
    assert first.callsite is not None
    assert (first.callsite.filename, first.callsite.lineno) == (
        HERE,
        line_of(HERE, "http:requests"),
    )
    assert first.duration > 0
    assert "s3cret" not in str(rec.analysis.to_dict())


def test_the_path_and_query_string_only_when_opted_in(service: str) -> None:
    with override_settings(PERFAUDIT={"CAPTURE_HTTP_URLS": True}):
        with perfaudit.record() as rec:
            requests.get(f"{service}/echo?page=2", timeout=5)
            httpx.get(f"{service}/echo?page=3", timeout=5)
    assert [e.url for e in rec.http] == [f"{service}/echo?page=2", f"{service}/echo?page=3"]
    assert [e.host for e in rec.http] == [service, service]


def test_httpx_sync(service: str) -> None:
    with perfaudit.record() as rec:
        with httpx.Client() as client:
            client.get(f"{service}/ok", timeout=5)  # http:httpx
            client.get(f"{service}/status/404", timeout=5)
    assert [(e.client, e.status) for e in rec.http] == [("httpx", 200), ("httpx", 404)]
    site = rec.http[0].callsite
    assert site is not None
    assert site.lineno == line_of(HERE, "http:httpx")


@pytest.mark.asyncio
async def test_httpx_async(service: str) -> None:
    with perfaudit.record() as rec:
        async with httpx.AsyncClient() as client:
            await client.get(f"{service}/slow?ms=20", timeout=5)  # http:async
    (event,) = rec.http
    assert (event.client, event.status) == ("httpx-async", 200)
    assert event.duration >= 0.02
    assert event.callsite is not None
    assert event.callsite.lineno == line_of(HERE, "http:async")


def test_failing_calls_are_recorded_and_the_exception_propagates() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    with perfaudit.record() as rec:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
    assert [(e.client, e.status, e.error) for e in rec.http] == [
        ("urllib3", None, "urllib3.exceptions.MaxRetryError"),
        ("httpx", None, "httpx.ConnectError"),
    ]
    assert rec.analysis.http.errors == 2
    assert rec.analysis.http.describe() == "2 calls, 2 failed"


def test_urllib3_retries_are_one_event() -> None:
    pool = urllib3.PoolManager()
    url = f"http://127.0.0.1:{closed_port()}/"
    with perfaudit.record() as rec:
        with pytest.raises(urllib3.exceptions.MaxRetryError):
            pool.request("GET", url, retries=urllib3.Retry(2, backoff_factor=0))
    (event,) = rec.http
    assert event.error == "urllib3.exceptions.MaxRetryError"


def test_nothing_is_recorded_outside_a_recording(service: str) -> None:
    assert requests.get(f"{service}/ok", timeout=5).status_code == 200
    with perfaudit.record() as rec:
        pass
    assert rec.http == []


def test_threads_do_not_mix_events(service: str) -> None:
    barrier = threading.Barrier(3)
    seen: dict[int, list[int | None]] = {}

    def worker(status: int) -> None:
        with perfaudit.record() as rec:
            barrier.wait()
            for _ in range(5):
                requests.get(f"{service}/status/{status}", timeout=5)
        seen[status] = [e.status for e in rec.http]

    def bystander() -> None:
        barrier.wait()
        for _ in range(5):
            httpx.get(f"{service}/ok", timeout=5)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (201, 202)]
    threads.append(threading.Thread(target=bystander))
    with perfaudit.record() as main:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen == {201: [201] * 5, 202: [202] * 5}
    assert main.http == []


@pytest.mark.asyncio
async def test_asyncio_tasks_do_not_mix_events(service: str) -> None:
    async def task(status: int, client: httpx.AsyncClient) -> list[int | None]:
        with perfaudit.record() as rec:
            for _ in range(4):
                await client.get(f"{service}/status/{status}", timeout=5)
        return [e.status for e in rec.http]

    async with httpx.AsyncClient() as client:
        first, second = await asyncio.gather(task(201, client), task(202, client))
    assert (first, second) == ([201] * 4, [202] * 4)


def test_clients_are_hooked_only_once_imported_and_never_imported_by_perfaudit() -> None:
    script = """
import sys
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["perfaudit"], DATABASES={})
django.setup()
import perfaudit
with perfaudit.record():
    pass
assert "httpx" not in sys.modules and "urllib3" not in sys.modules, sorted(sys.modules)
import httpx
assert not hasattr(httpx.HTTPTransport.handle_request, "_perfaudit_original")
with perfaudit.record():
    pass
assert hasattr(httpx.HTTPTransport.handle_request, "_perfaudit_original")
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

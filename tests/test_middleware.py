"""PerfAuditMiddleware: sync and async, DRF, streaming, failures, headers, budgets, sampling."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from perfaudit import detect
from perfaudit.capture import active_recordings
from perfaudit.payload import digest
from perfaudit.web.middleware import (
    PAYLOAD_HEADER,
    QUERIES_HEADER,
    SERVER_TIMING_HEADER,
    BudgetExceeded,
    PerfAuditMiddleware,
    view_name,
)
from perfaudit.web.store import get_store
from tests.factories import BookFactory
from tests.middleware_views import STREAM_CHUNKS, STREAM_EVENTS, ViewBoom

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
HEADERS = (SERVER_TIMING_HEADER, QUERIES_HEADER, PAYLOAD_HEADER)
TIMING = re.compile(
    r'^db;dur=\d+\.\d\d;desc="(\d+) quer(?:y|ies)", app;dur=\d+\.\d\d'
    r'(?:, cache;dur=\d+\.\d\d;desc="\d+ calls?, \d+ hits?", http;dur=\d+\.\d\d;desc="[^"]*")?'
    r"(?:, cpu;dur=\d+\.\d\d)?$"
)


@pytest.fixture(autouse=True)
def _with_middleware() -> Iterator[None]:
    get_store().clear()
    STREAM_EVENTS.clear()
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        yield
    get_store().clear()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="perfaudit")
    return caplog


def _perfaudit_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "perfaudit" and r.levelno == level]


# -- sync, async, DRF -------------------------------------------------------------


def test_middleware_is_sync_and_async_capable() -> None:
    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert PerfAuditMiddleware.sync_capable
    assert PerfAuditMiddleware.async_capable
    assert not iscoroutinefunction(PerfAuditMiddleware(sync_view))
    assert iscoroutinefunction(PerfAuditMiddleware(async_view))


@pytest.mark.django_db
def test_sync_view_is_recorded_stored_and_logged(
    client: Client, logs: pytest.LogCaptureFixture
) -> None:
    response = client.get("/mw/n/2/")

    assert response.status_code == 200
    assert response.json() == {"k": 2}
    stats = get_store().get("mw:n")
    assert stats is not None
    assert (stats.requests, stats.queries_max, stats.last_status) == (1, 2, 200)
    (line,) = _perfaudit_records(logs, logging.DEBUG)
    assert re.match(
        r"GET /mw/n/2/ \(mw:n\) 200: 2 queries, \d+\.\d ms DB, \d+\.\d ms total$",
        line.getMessage(),
    )
    assert _perfaudit_records(logs, logging.INFO) == []
    assert active_recordings() == ()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_async_views_and_sync_views_under_asgi(logs: pytest.LogCaptureFixture) -> None:
    await sync_to_async(BookFactory.create_batch)(3)
    client = AsyncClient()
    with override_settings(PERFAUDIT={"HEADERS": True}):
        async_response = await client.get("/mw/abooks/")
        drf_response = await client.get("/mw/api/books/list/")

    # 1 query for the books, then one author per book.
    assert async_response.status_code == drf_response.status_code == 200
    assert async_response[QUERIES_HEADER] == "4"
    assert drf_response[QUERIES_HEADER] == "4"
    assert len(drf_response.json()) == 3
    stats = get_store().get("mw:async-books")
    assert stats is not None
    assert stats.queries_max == 4


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/mw/api/books/", "/mw/api/books/list/"])
def test_drf_views_findings_are_logged_with_their_suggestion(
    client: Client, logs: pytest.LogCaptureFixture, url: str
) -> None:
    # Ten books: an N+1 of 10 queries is "high" whatever the timings (below
    # 10, severity depends on the N+1's share of DB time).
    BookFactory.create_batch(10)
    with override_settings(PERFAUDIT={"HEADERS": True}):
        response = client.get(url)

    assert response.status_code == 200
    assert len(response.json()) == 10
    assert all(book["author"]["name"].startswith("Author ") for book in response.json())
    assert response[QUERIES_HEADER] == "11"
    (line,) = _perfaudit_records(logs, logging.INFO)
    message = line.getMessage()
    assert "11 queries" in message
    assert "[n_plus_one/high] `Book.author` is loaded one row at a time" in message
    assert 'select_related("author")' in message
    kinds = {kind for kind, _ in get_store().snapshot()[0].findings}
    assert kinds == {"n_plus_one"}
    # Structured data for JSON log handlers: numbers and findings, no SQL values.
    extra: dict[str, Any] = line.perfaudit  # type: ignore[attr-defined]
    assert extra["queries"] == 11
    assert extra["findings"][0]["kind"] == "n_plus_one"
    assert "shapes" not in extra


# -- streaming ---------------------------------------------------------------------


@pytest.mark.django_db
def test_streaming_response_is_never_consumed(client: Client) -> None:
    with override_settings(PERFAUDIT={"HEADERS": True, "PAYLOAD_HASH": True}):
        response = client.get("/mw/stream/")

    assert response.streaming
    assert STREAM_EVENTS == []  # perfaudit did not start reading the body
    # The query run while streaming happens after the response left the middleware.
    assert response[QUERIES_HEADER] == "1"
    assert PAYLOAD_HEADER not in response
    assert b"".join(response.streaming_content) == b"".join(STREAM_CHUNKS)  # type: ignore[arg-type]
    assert STREAM_EVENTS == ["started", "finished"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_async_streaming_response_is_never_consumed() -> None:
    with override_settings(PERFAUDIT={"HEADERS": True, "PAYLOAD_HASH": True}):
        response = await AsyncClient().get("/mw/astream/")

    assert STREAM_EVENTS == []
    assert response[QUERIES_HEADER] == "1"
    assert PAYLOAD_HEADER not in response
    body = b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[union-attr]
    assert body == b"".join(STREAM_CHUNKS)
    assert STREAM_EVENTS == ["started", "finished"]


# -- failures ------------------------------------------------------------------------


def test_view_exception_propagates_and_the_recording_is_closed(rf: RequestFactory) -> None:
    error = ViewBoom("raised by the view")
    seen: list[int] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(len(active_recordings()))
        raise error

    with pytest.raises(ViewBoom) as info:
        PerfAuditMiddleware(view)(rf.get("/anything/"))

    assert info.value is error
    assert seen == [1]  # the view ran inside a recording ...
    assert active_recordings() == ()  # ... which is gone afterwards
    assert len(get_store()) == 0


@pytest.mark.asyncio
async def test_async_view_exception_propagates_and_the_recording_is_closed(
    rf: RequestFactory,
) -> None:
    error = ViewBoom("raised by the async view")

    async def view(request: HttpRequest) -> HttpResponse:
        assert len(active_recordings()) == 1
        raise error

    with pytest.raises(ViewBoom) as info:
        await PerfAuditMiddleware(view)(rf.get("/anything/"))  # type: ignore[misc]

    assert info.value is error
    assert active_recordings() == ()


@pytest.mark.django_db
def test_view_exception_through_the_client(client: Client) -> None:
    with pytest.raises(ViewBoom, match="failed on its own"):
        client.get("/mw/boom/")

    assert active_recordings() == ()
    # Django turned the exception into a 500 below the middleware: it is recorded.
    stats = get_store().get("mw:boom")
    assert stats is not None
    assert (stats.last_status, stats.queries_max) == (500, 1)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_async_view_exception_through_the_client() -> None:
    with pytest.raises(ViewBoom, match="async view failed"):
        await AsyncClient().get("/mw/aboom/")
    assert active_recordings() == ()


@pytest.mark.django_db
def test_a_failing_detector_is_logged_and_the_request_succeeds(
    client: Client, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(analysis: object) -> list[Any]:
        raise RuntimeError("detector bug")

    monkeypatch.setitem(detect.DETECTORS, "n_plus_one", broken)
    response = client.get("/mw/n/3/")

    assert response.status_code == 200
    assert response.json() == {"k": 3}
    (error,) = _perfaudit_records(logs, logging.ERROR)
    assert "n_plus_one detector failed" in error.getMessage()
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "detector bug"
    stats = get_store().get("mw:n")
    assert stats is not None
    assert stats.queries_max == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    [
        "perfaudit.web.middleware.summarise",
        "perfaudit.detect.budgets.check_budget",
        "perfaudit.web.middleware._log",
    ],
)
def test_a_reporting_error_after_the_response_is_logged(
    client: Client, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("perfaudit bug")

    monkeypatch.setattr(target, broken)
    with override_settings(PERFAUDIT={"HEADERS": True}):
        response = client.get("/mw/n/1/")

    # The response was complete before the reporting ran: headers included.
    assert response.status_code == 200
    assert response.json() == {"k": 1}
    assert response[QUERIES_HEADER] == "1"
    (error,) = _perfaudit_records(logs, logging.ERROR)
    assert error.getMessage() == ("reporting on GET /mw/n/1/ failed after the response was sent")
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "perfaudit bug"
    assert get_store().dropped_requests == 0  # it ran (and failed): not dropped


@pytest.mark.django_db
@pytest.mark.parametrize("raise_", [False, True], ids=["deferred", "RAISE"])
def test_an_error_on_the_request_path_returns_the_response_unchanged(
    client: Client, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, raise_: bool
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("perfaudit bug")

    # With RAISE the reporting itself is on the request path; without, the headers are.
    target = "middleware.summarise" if raise_ else "headers.db_seconds"
    monkeypatch.setattr(f"perfaudit.web.{target}", broken)
    with override_settings(PERFAUDIT={"HEADERS": True, "RAISE": raise_}):
        response = client.get("/mw/n/1/")

    assert response.status_code == 200
    assert response.json() == {"k": 1}
    assert not any(header in response for header in HEADERS)
    (error,) = _perfaudit_records(logs, logging.ERROR)
    assert error.getMessage() == (
        "reporting on GET /mw/n/1/ failed; the response is returned unchanged"
    )
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "perfaudit bug"


# -- headers ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_headers_when_debug_is_off_and_not_opted_in(client: Client) -> None:
    with override_settings(PERFAUDIT={"PAYLOAD_HASH": True}):
        response = client.get("/mw/n/2/")

    assert not any(header in response for header in HEADERS)
    assert get_store().get("mw:n") is not None  # recorded all the same


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("debug", "perfaudit"), [(True, {}), (False, {"HEADERS": True})], ids=["DEBUG", "HEADERS"]
)
def test_headers_with_debug_or_opt_in(
    client: Client, debug: bool, perfaudit: dict[str, Any]
) -> None:
    with override_settings(DEBUG=debug, PERFAUDIT={**perfaudit, "PAYLOAD_HASH": True}):
        response = client.get("/mw/n/3/")

    timing = TIMING.match(response[SERVER_TIMING_HEADER])
    assert timing is not None
    assert timing.group(1) == "3"
    assert response[QUERIES_HEADER] == "3"
    assert response[PAYLOAD_HEADER] == digest(response).hash


@pytest.mark.django_db
def test_server_timing_keeps_the_views_own_entries(client: Client) -> None:
    with override_settings(PERFAUDIT={"HEADERS": True}):
        response = client.get("/mw/timed/")

    first, ours = response[SERVER_TIMING_HEADER].split(", ", 1)
    assert first == 'cache;desc="hit"'
    assert TIMING.match(ours)


@pytest.mark.django_db
def test_payload_hash_is_logged_and_stored_without_headers(
    client: Client, logs: pytest.LogCaptureFixture
) -> None:
    with override_settings(PERFAUDIT={"PAYLOAD_HASH": True}):
        response = client.get("/mw/n/1/")

    expected = digest(response).hash  # status, content type and body
    assert expected is not None
    assert PAYLOAD_HEADER not in response
    stats = get_store().get("mw:n")
    assert stats is not None
    assert stats.last_payload == expected
    (line,) = _perfaudit_records(logs, logging.DEBUG)
    assert line.getMessage().endswith(f"; payload {expected}")


@pytest.mark.django_db
def test_no_parameter_value_or_query_string_leaves_the_process(
    client: Client, logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    with override_settings(
        PERFAUDIT={"HEADERS": True, "JSONL_IN_TESTS": True, "JSONL_PATH": str(path)}
    ):
        response = client.get("/mw/books/search/?title=secret-title-4711")

    assert response.json() == {"count": 0}
    exposed = [*response.headers.values(), path.read_text(), logs.text]
    assert not any("secret-title-4711" in text for text in exposed)
    assert orjson.loads(path.read_bytes())["path"] == "/mw/books/search/"


# -- view names -------------------------------------------------------------------------


@pytest.mark.django_db
def test_view_names_fall_back_to_the_dotted_path_then_the_path(client: Client) -> None:
    client.get("/mw/unnamed/")
    client.get("/mw/no-such-page/")

    assert "mw:tests.middleware_views.unnamed" in get_store()
    assert "/mw/no-such-page/" in get_store()


def test_view_name_uses_the_route_when_there_is_no_view_name(rf: RequestFactory) -> None:
    request = rf.get("/items/7/")
    assert view_name(request) == "/items/7/"
    request.resolver_match = SimpleNamespace(view_name="", route="items/<int:pk>/")  # type: ignore[assignment]
    assert view_name(request) == "items/<int:pk>/"


# -- budgets ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_budget_violation_is_logged_at_warning(
    client: Client, logs: pytest.LogCaptureFixture
) -> None:
    with override_settings(PERFAUDIT={"BUDGETS": {"mw:n": {"queries": 2}}}):
        within = client.get("/mw/n/2/")
        over = client.get("/mw/n/3/")

    assert within.status_code == over.status_code == 200
    (warning,) = _perfaudit_records(logs, logging.WARNING)
    assert warning.getMessage() == (
        "GET /mw/n/3/ (mw:n) over budget: mw:n ran 3 queries, over its budget of 2 "
        "(PERFAUDIT['BUDGETS']['mw:n']['queries'])"
    )
    stats = get_store().get("mw:n")
    assert stats is not None
    assert stats.violations == {"queries": 1}


@pytest.mark.django_db
def test_budget_violation_raises_with_raise(client: Client) -> None:
    with override_settings(PERFAUDIT={"BUDGETS": {"mw:*": {"queries": 2}}, "RAISE": True}):
        assert client.get("/mw/n/2/").status_code == 200
        with pytest.raises(BudgetExceeded) as info:
            client.get("/mw/n/3/")

    (violation,) = info.value.violations
    assert (violation.view_name, violation.pattern, violation.actual) == ("mw:n", "mw:*", 3)
    assert "mw:n ran 3 queries, over its budget of 2" in str(info.value)
    assert "PERFAUDIT['RAISE'] = False" in str(info.value)
    assert active_recordings() == ()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_budget_violation_raises_under_asgi() -> None:
    with override_settings(PERFAUDIT={"BUDGETS": {"mw:async-n": {"queries": 1}}, "RAISE": True}):
        with pytest.raises(BudgetExceeded):
            await AsyncClient().get("/mw/an/2/")


# -- sampling -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sample_rate_zero_records_nothing_when_debug_is_off(
    client: Client, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "requests.jsonl"
    settings = {"SAMPLE_RATE": 0, "HEADERS": True, "JSONL_IN_TESTS": True, "JSONL_PATH": str(path)}
    with override_settings(PERFAUDIT=settings):
        response = client.get("/mw/n/2/")

    assert response.status_code == 200
    assert not any(header in response for header in HEADERS)
    assert len(get_store()) == 0
    assert not path.exists()
    assert _perfaudit_records(logs, logging.DEBUG) == []


@pytest.mark.django_db
def test_debug_records_every_request_whatever_the_sample_rate(
    client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    with override_settings(
        DEBUG=True, PERFAUDIT={"SAMPLE_RATE": 0, "JSONL_IN_TESTS": True, "JSONL_PATH": str(path)}
    ):
        response = client.get("/mw/n/2/")

    assert response[QUERIES_HEADER] == "2"
    assert orjson.loads(path.read_bytes())["sample_rate"] == 1.0


@pytest.mark.django_db
def test_a_fractional_sample_rate_records_about_that_share(client: Client) -> None:
    with override_settings(PERFAUDIT={"SAMPLE_RATE": 0.5}):
        for _ in range(200):
            client.get("/mw/n/0/")

    stats = get_store().get("mw:n")
    # Binomial(200, 0.5): outside 60..140 with probability below 1e-8.
    assert stats is not None
    assert 60 <= stats.requests <= 140


# -- concurrency: no cross-talk ----------------------------------------------------------------


def _check_no_crosstalk(
    logs: pytest.LogCaptureFixture, path: Path, expected: list[tuple[str, int]]
) -> None:
    """Every log record and JSONL line carries the count its own URL asked for."""
    want = sorted(expected)
    records = [
        (r.perfaudit["path"], r.perfaudit["queries"])  # type: ignore[attr-defined]
        for r in logs.records
        if r.name == "perfaudit" and hasattr(r, "perfaudit")
    ]
    assert sorted(records) == want
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert sorted((line["path"], line["queries"]) for line in lines) == want
    for line in lines:
        assert sum(shape["count"] for shape in line["shapes"]) == line["queries"]


def _k(path: str) -> int:
    return int(path.rstrip("/").rsplit("/", 1)[1])


@pytest.mark.django_db(transaction=True)
def test_threads_never_mix_recordings(logs: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    urls = [f"/mw/n/{i % 17}/" for i in range(240)]
    chunks = [urls[i::8] for i in range(8)]

    def worker(chunk: list[str]) -> list[tuple[str, str, int]]:
        client = Client()
        try:
            return [(url, (r := client.get(url))[QUERIES_HEADER], r.json()["k"]) for url in chunk]
        finally:
            connections.close_all()

    with override_settings(
        PERFAUDIT={"HEADERS": True, "JSONL_IN_TESTS": True, "JSONL_PATH": str(path)}
    ):
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = [row for rows in pool.map(worker, chunks) for row in rows]

    assert len(results) == 240
    for url, header, k in results:
        assert int(header) == k == _k(url), url
    _check_no_crosstalk(logs, path, [(url, _k(url)) for url in urls])
    stats = get_store().get("mw:n")
    assert stats is not None
    assert (stats.requests, stats.queries_max) == (240, 16)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_asyncio_tasks_never_mix_recordings(
    logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    # Async views (queries through sync_to_async) and sync views, interleaved.
    urls = [f"/mw/an/{i % 13}/" if i % 2 else f"/mw/n/{i % 11}/" for i in range(220)]
    client = AsyncClient()
    with override_settings(
        PERFAUDIT={"HEADERS": True, "JSONL_IN_TESTS": True, "JSONL_PATH": str(path)}
    ):
        responses = await asyncio.gather(*(client.get(url) for url in urls))

    for url, response in zip(urls, responses, strict=True):
        assert int(response[QUERIES_HEADER]) == response.json()["k"] == _k(url), url
    _check_no_crosstalk(logs, path, [(url, _k(url)) for url in urls])
    assert active_recordings() == ()


# -- what is recorded, and where it goes ------------------------------------------


@pytest.mark.django_db
def test_no_jsonl_line_under_the_test_environment_unless_asked(
    client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "dev.jsonl"
    with override_settings(PERFAUDIT={"JSONL_PATH": str(path)}):
        assert client.get("/mw/n/1/").status_code == 200
    assert not path.exists()  # test traffic stays out of the development file
    assert get_store().get("mw:n") is not None  # the in-process store still counts it
    with override_settings(PERFAUDIT={"JSONL_PATH": str(path), "JSONL_IN_TESTS": True}):
        client.get("/mw/n/1/")
    assert len(path.read_bytes().splitlines()) == 1


@pytest.mark.django_db
def test_excluded_views_and_paths_are_not_recorded(client: Client) -> None:
    with override_settings(PERFAUDIT={"EXCLUDE": ["mw:n"], "HEADERS": True}):
        response = client.get("/mw/n/2/")
    assert QUERIES_HEADER not in response
    assert get_store().get("mw:n") is None
    with override_settings(PERFAUDIT={"EXCLUDE": ["/mw/n/*"], "HEADERS": True}):
        response = client.get("/mw/n/2/")
    assert QUERIES_HEADER not in response
    assert get_store().get("mw:n") is None
    with override_settings(PERFAUDIT={"EXCLUDE": ["/other/*"], "HEADERS": True}):
        response = client.get("/mw/n/2/")
    assert response[QUERIES_HEADER] == "2"


def test_the_toolbars_own_views_are_never_recorded() -> None:
    from perfaudit.web.scope import excluded_view

    assert excluded_view("djdt:render_panel", [])
    assert excluded_view("djdt:history_sidebar", [])
    assert not excluded_view("events:event-list", [])
    assert excluded_view("admin:index", ["admin:*"])
    assert not excluded_view("admin:index", ["/admin/*"])  # a path pattern, not a name

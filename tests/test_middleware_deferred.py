"""The middleware's reporting runs after the response: on close, once, and never silently lost."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from time import monotonic
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.test import Client, RequestFactory, override_settings

from perfaudit.web import deferred
from perfaudit.web.middleware import QUERIES_HEADER, BudgetExceeded, PerfAuditMiddleware
from perfaudit.web.store import get_store
from tests.middleware_views import STREAM_EVENTS
from tests.testapp.models import Author


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    get_store().clear()
    STREAM_EVENTS.clear()
    monkeypatch.setattr(deferred, "_logged", 0)
    monkeypatch.setattr(deferred, "_logged_at", -deferred.LOG_INTERVAL)
    with override_settings(MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"]):
        yield
    get_store().clear()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="perfaudit")
    return caplog


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "perfaudit" and r.levelno == logging.WARNING
    ]


def three_queries(request: HttpRequest) -> JsonResponse:
    for i in range(3):
        Author.objects.filter(pk=-i).exists()
    return JsonResponse({"k": 3})


def _close(response: HttpResponseBase) -> None:
    """Close as a server does, but as Django's test client does it: without
    request_finished closing the test's database connection (and transaction)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _respond(rf: RequestFactory) -> HttpResponseBase:
    """A response straight from the middleware: nobody has closed it yet."""
    response = PerfAuditMiddleware(three_queries)(rf.get("/three/"))
    assert isinstance(response, HttpResponseBase)
    return response


@pytest.mark.django_db
def test_the_reporting_runs_when_the_response_is_closed_and_only_once(
    rf: RequestFactory, logs: pytest.LogCaptureFixture
) -> None:
    with override_settings(PERFAUDIT={"HEADERS": True}):
        response = _respond(rf)

        # What the response needs is there before it is returned ...
        assert response[QUERIES_HEADER] == "3"
        # ... the rest is not done yet.
        assert len(get_store()) == 0
        assert not [r for r in logs.records if r.name == "perfaudit"]

        _close(response)
        _close(response)  # a second close (some servers do) reports nothing more

    stats = get_store().get("/three/")
    assert stats is not None
    assert (stats.requests, stats.queries_max) == (1, 3)
    (line,) = [r for r in logs.records if r.name == "perfaudit"]
    assert "3 queries" in line.getMessage()
    assert get_store().dropped_requests == 0


@pytest.mark.django_db
def test_raise_reports_before_the_response_is_returned(rf: RequestFactory) -> None:
    with override_settings(PERFAUDIT={"RAISE": True, "BUDGETS": {"/three/": {"queries": 5}}}):
        response = _respond(rf)
        assert get_store().get("/three/") is not None  # not waiting for close()
        _close(response)
        with (
            override_settings(PERFAUDIT={"RAISE": True, "BUDGETS": {"/three/": {"queries": 2}}}),
            pytest.raises(BudgetExceeded),
        ):
            _respond(rf)

    stats = get_store().get("/three/")
    assert stats is not None
    assert stats.requests == 2
    assert stats.violations == {"queries": 1}


@pytest.mark.django_db
def test_a_streaming_response_is_reported_once_the_stream_is_consumed(client: Client) -> None:
    response = client.get("/mw/stream/")

    assert get_store().get("mw:stream") is None  # the body has not been sent yet
    b"".join(response.streaming_content)  # type: ignore[arg-type]
    stats = get_store().get("mw:stream")
    assert stats is not None
    assert stats.queries_max == 1


@pytest.mark.django_db
def test_a_response_never_closed_is_counted_logged_and_written(
    rf: RequestFactory, client: Client, logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    jsonl = tmp_path / "requests.jsonl"
    with override_settings(PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(jsonl)}):
        response = _respond(rf)
        del response
        gc.collect()
        assert get_store().dropped_requests == 1
        assert len(get_store()) == 0

        # The next request says so, once (and carries the count into the file).
        client.get("/mw/n/1/")
        (warning,) = _warnings(logs)
        assert warning.startswith("the reports of 1 requests were dropped")
        assert "without response.close()" in warning

        # More drops within the minute: counted, not logged again.
        _respond(rf)
        _respond(rf)
        gc.collect()
        client.get("/mw/n/2/")

    assert get_store().dropped_requests == 3
    assert len(_warnings(logs)) == 1
    lines = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    assert [(line["path"], line.get("dropped")) for line in lines] == [
        ("/mw/n/1/", 1),
        ("/mw/n/2/", 2),
    ]


@pytest.mark.django_db
def test_dropped_work_is_logged_again_after_a_minute(
    rf: RequestFactory, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [monotonic()]
    monkeypatch.setattr(deferred, "monotonic", lambda: now[0])
    for _ in range(2):
        _respond(rf)
        gc.collect()
        deferred.log_drops()
    assert len(_warnings(logs)) == 1

    now[0] += deferred.LOG_INTERVAL
    deferred.log_drops()
    first, second = _warnings(logs)
    assert first.startswith("the reports of 1 requests were dropped (1 in all")
    assert second.startswith("the reports of 1 requests were dropped (2 in all")


def test_the_report_says_how_many_requests_were_dropped(tmp_path: Path) -> None:
    jsonl = tmp_path / "requests.jsonl"
    line: dict[str, Any] = {"view": "v", "queries": 1, "db_ms": 0.1, "total_ms": 1.0, "shapes": []}
    jsonl.write_bytes(orjson.dumps(line) + b"\n" + orjson.dumps({**line, "dropped": 4}) + b"\n")
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        call_command("perfaudit", "report", "--from", str(jsonl), stdout=handle)
    assert "4 more requests were recorded but not reported" in out.read_text()
    with out.open("w") as handle:
        call_command(
            "perfaudit", "report", "--from", str(jsonl), "--format", "json", stdout=handle
        )
    assert orjson.loads(out.read_bytes())["dropped"] == 4

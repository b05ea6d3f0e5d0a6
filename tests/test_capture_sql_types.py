"""SQL that is not a ``str`` is recorded as its text; a failed capture still counts."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.test import Client, override_settings
from django.urls import path

import perfaudit
from perfaudit.capture import callsites, hook
from perfaudit.web.middleware import QUERIES_HEADER
from perfaudit.web.store import get_store
from tests.factories import TagFactory

ON_POSTGRES = connection.vendor == "postgresql"
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="psycopg 3 SQL objects: run with PERFAUDIT_TEST_DB=postgres"
)


def _composed() -> object:
    from psycopg import sql

    return sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
        sql.Identifier("id"), sql.Identifier("testapp_tag"), sql.Identifier("name")
    )


def composed_view(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(_composed(), ["x"])
        cursor.execute(b'SELECT count(*) FROM "testapp_tag"')
        (count,) = cursor.fetchone()
    return JsonResponse({"tags": count})


def conditional_view(request: HttpRequest) -> HttpResponse:
    if request.headers.get("If-None-Match"):
        return HttpResponseNotModified()
    return JsonResponse({"tags": ["a", "b"]})


urlpatterns = [
    path("composed/", composed_view, name="composed"),
    path("conditional/", conditional_view, name="conditional"),
]


@needs_postgres
@pytest.mark.django_db
def test_composed_and_bytes_sql_are_recorded_as_text() -> None:
    from psycopg import sql

    TagFactory(name="x")
    with perfaudit.record() as recording:
        with connection.cursor() as cursor:
            cursor.execute(_composed(), ["x"])
            cursor.execute(sql.SQL('SELECT 1 FROM "testapp_tag"'))
            cursor.execute(b'SELECT "name" FROM "testapp_tag" WHERE "id" > %s', [0])
    texts = [event.sql for event in recording.queries]
    assert texts == [
        'SELECT "id" FROM "testapp_tag" WHERE "name" = %s',
        'SELECT 1 FROM "testapp_tag"',
        'SELECT "name" FROM "testapp_tag" WHERE "id" > %s',
    ]
    assert [event.fingerprint for event in recording.queries] == [
        "SELECT id FROM testapp_tag WHERE name = ?",
        "SELECT ? FROM testapp_tag",
        "SELECT name FROM testapp_tag WHERE id > ?",
    ]
    perfaudit.detect.run(recording)  # the detectors read the same text


@needs_postgres
@pytest.mark.django_db
@override_settings(
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"],
    PERFAUDIT={"HEADERS": True},
)
def test_middleware_keeps_its_headers_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="perfaudit")
    response = Client().get("/composed/")
    assert response.status_code == 200
    assert response[QUERIES_HEADER] == "2"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.django_db
def test_a_failed_capture_still_counts_the_query_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: object, frame: object) -> None:
        raise RuntimeError("call-site walk failed")

    # A fault inside perfaudit's own bookkeeping, not in Django's database layer.
    monkeypatch.setattr(callsites._FramePolicy, "user_frame", broken)
    monkeypatch.setattr(hook, "_store_failures", 0)
    caplog.set_level(logging.DEBUG, logger="perfaudit")
    with perfaudit.record() as recording:
        for _ in range(3):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    assert len(recording) == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "could not record a query; it is counted" in warnings[0].getMessage()


@pytest.mark.django_db
@override_settings(
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"],
    PERFAUDIT={"HEADERS": True, "PAYLOAD_HASH": True},
)
def test_a_304_keeps_the_views_last_payload_hash() -> None:
    from perfaudit.web.middleware import PAYLOAD_HEADER

    get_store().clear()
    client = Client()
    full = client.get("/conditional/")
    not_modified = client.get("/conditional/", headers={"If-None-Match": '"x"'})
    assert not_modified.status_code == 304
    stats = get_store().get("conditional")
    assert stats is not None
    assert stats.requests == 2
    assert stats.last_status == 304
    assert stats.last_payload == full[PAYLOAD_HEADER]
    get_store().clear()

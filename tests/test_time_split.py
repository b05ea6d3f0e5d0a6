"""Where a request's time goes: CPU, the split in every output, the three findings."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from django.core.cache import cache
from django.test import AsyncClient, Client, override_settings

import perfaudit
from perfaudit.capture import CacheEvent, HttpEvent, QueryEvent, Recording
from perfaudit.detect import run
from perfaudit.report.inventory import load_inventory
from perfaudit.web.middleware import SERVER_TIMING_HEADER
from perfaudit.web.store import get_store
from tests import side_views
from tests.factories import BookFactory
from tests.helpers import line_of
from tests.http_service import serve
from tests.testapp.models import Book

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
VIEWS = side_views.__file__


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve() as url:
        side_views.SERVICE["url"] = url
        yield url
        side_views.SERVICE["url"] = None


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    cache.clear()  # the LocMem test cache, process-local
    get_store().clear()
    with override_settings(MIDDLEWARE=MIDDLEWARE, PERFAUDIT={"HEADERS": True}):
        yield
    get_store().clear()


# -- CPU ------------------------------------------------------------------------


def test_cpu_time_of_the_recording_thread() -> None:
    with perfaudit.record() as busy:
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            pass
    with perfaudit.record() as idle:
        time.sleep(0.1)
    assert busy.cpu_time is not None
    assert idle.cpu_time is not None
    assert busy.duration is not None
    assert idle.duration is not None
    assert 0 < busy.cpu_time <= busy.duration * 1.05
    assert idle.cpu_time < idle.duration / 2  # sleeping is wall time, not CPU
    assert busy.analysis.cpu_ms == pytest.approx(busy.cpu_time * 1000)


@pytest.mark.asyncio
async def test_no_cpu_figure_on_an_event_loop() -> None:
    with perfaudit.record() as rec:
        await asyncio.sleep(0)
    assert rec.cpu_time is None
    assert rec.analysis.to_dict()["cpu_ms"] is None


# -- the split in the outputs --------------------------------------------------

TIMING = re.compile(
    r'^db;dur=[\d.]+;desc="(\d+) quer(?:y|ies)", app;dur=[\d.]+, '
    r'cache;dur=[\d.]+;desc="(\d+) calls?, (\d+) hits?", '
    r'http;dur=([\d.]+);desc="(\d+) calls?"(?:, cpu;dur=[\d.]+)?$'
)


@pytest.mark.django_db
def test_server_timing_jsonl_and_findings_of_a_third_party_call(
    client: Client, service: str, tmp_path: object
) -> None:
    path = f"{tmp_path}/requests.jsonl"
    with override_settings(
        PERFAUDIT={"HEADERS": True, "JSONL_PATH": path, "JSONL_IN_TESTS": True}
    ):
        response = client.get("/side/payment/")
    assert response.status_code == 200
    timing = TIMING.match(response[SERVER_TIMING_HEADER])
    assert timing is not None, response[SERVER_TIMING_HEADER]
    assert timing.group(1) == "1"
    assert float(timing.group(4)) >= 60
    assert timing.group(5) == "1"
    assert "cpu;dur=" in response[SERVER_TIMING_HEADER]  # a sync view under WSGI

    line = orjson.loads(Path(path).read_bytes().splitlines()[-1])
    assert line["http"]["calls"] == 1
    assert line["http"]["groups"][0]["url"] == service
    assert line["cpu_ms"] is not None
    assert "s3cret" not in str(line)
    (finding,) = [f for f in line["findings"] if f["kind"] == "external_call"]
    assert finding["callsite"]["line"] == line_of(VIEWS, "side:http")
    assert 0 < finding["share"] <= 1
    assert "task/queue" in finding["suggestion"]
    assert "payload check" in finding["suggestion"]

    # report reads the same lines: the split per view.
    (view,) = [v.to_dict() for v in load_inventory(path).views]
    assert view["view"] == "side:payment"
    assert view["http_calls"] == 1
    assert view["http_ms_p50"] >= 60
    assert view["cpu_ms_p50"] is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_async_view_has_http_but_no_cpu_entry(service: str) -> None:
    response = await AsyncClient().get("/side/apayment/")
    header = response[SERVER_TIMING_HEADER]
    assert "http;dur=" in header
    assert "cpu;dur" not in header
    stats = get_store().get("side:apayment")
    assert stats is not None
    # The port is left out of the finding's identity: a stand-in service's port
    # changes from run to run (compare would see it removed and added).
    assert ("external_call", "GET http://127.0.0.1") in stats.findings


def test_cache_repeat_in_a_request(client: Client) -> None:
    response = client.get("/side/profile/")
    assert "cache;dur=" in response[SERVER_TIMING_HEADER]
    assert 'desc="2 calls, 0 hits"' in response[SERVER_TIMING_HEADER]
    stats = get_store().get("side:profile")
    assert stats is not None
    assert ("cache_repeat", "default:profile:#") in stats.findings


@pytest.mark.django_db
def test_cache_miss_refilled_by_the_db_is_a_stampede_risk() -> None:
    BookFactory.create_batch(3)
    with perfaudit.record() as rec:
        Client().get("/side/refill/")  # a miss: refilled by two queries
        Client().get("/side/refill/")  # a hit
    findings = [f for f in rec.analysis.findings if f.kind == "cache_miss_db"]
    (finding,) = findings
    assert finding.request == "GET /side/refill/"
    assert finding.count == 2
    assert finding.share > 0.5
    assert finding.callsite is not None
    assert finding.callsite.lineno == line_of(VIEWS, "side:miss")
    assert "stampede" in finding.suggestion


def test_events_are_split_by_request_like_queries(service: str) -> None:
    with perfaudit.record() as rec:
        cache.get("profile:42")  # test-body code: not a request's
        cache.get("profile:42")
        Client().get("/side/profile/")
        Client().get("/side/profile/")
    repeats = [f for f in rec.analysis.findings if f.kind == "cache_repeat"]
    # One per request and one for the test body: never the four reads as one.
    assert sorted((f.request or "", f.count) for f in repeats) == [
        ("", 2),
        ("GET /side/profile/", 2),
        ("GET /side/profile/", 2),
    ]
    assert rec.analysis.cache.calls == 6


# -- hand-built recordings -------------------------------------------------------


def test_detectors_on_hand_built_recordings() -> None:
    rec = Recording(
        [QueryEvent("SELECT 1", duration=0.001, started_at=0.002)],
        duration=0.5,
        http=[HttpEvent("urllib3", "POST", "https://pay.example:8443", 201, 0.3)],
        cache=[CacheEvent("default", "get", "k", 1, 0), CacheEvent("default", "get", "k", 1, 0)],
    )
    kinds = {f.kind: f for f in run(rec)}
    assert kinds["external_call"].share == pytest.approx(0.6)
    assert kinds["external_call"].severity == "high"
    assert kinds["external_call"].fingerprint == "POST https://pay.example"
    assert "https://pay.example:8443" in kinds["external_call"].suggestion
    assert kinds["cache_repeat"].count == 2
    assert "cache_miss_db" not in kinds


@pytest.mark.django_db
def test_a_get_or_set_whose_value_function_runs_the_queries() -> None:
    BookFactory.create_batch(2)
    cache.clear()

    def titles() -> list[str]:
        return [b.title for b in Book.objects.select_related("author").order_by("id")]

    with perfaudit.record() as rec:
        cache.get_or_set("titles", titles, 30)  # ts:get_or_set
        cache.get_or_set("titles", titles, 30)  # a hit: no refill
    (finding,) = [f for f in rec.analysis.findings if f.kind == "cache_miss_db"]
    assert finding.count == 1
    assert finding.callsite is not None
    assert finding.callsite.lineno == line_of(__file__, "ts:get_or_set")
    assert "testapp_book" in finding.sql


def test_a_failing_value_function_propagates_and_is_recorded() -> None:
    class Boom(Exception):
        pass

    def fail() -> None:
        raise Boom

    with perfaudit.record() as rec:
        with pytest.raises(Boom):
            cache.get_or_set("never", fail)
    (event,) = rec.cache
    assert event.op == "get_or_set"
    assert event.error is not None
    assert event.error.endswith("Boom")

"""OpenTelemetry export (perfaudit/web/otel.py) with the real SDK.

Spans go to an in-memory exporter and metrics to an in-memory reader; one test
exports over OTLP/HTTP to a receiver on 127.0.0.1 and decodes what arrives.
The API's global providers can be set once per process, so a fixture resets
them around each test (as OpenTelemetry's own test utilities do).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from perfaudit.sql.shape import analyze
from perfaudit.web import otel
from perfaudit.web.store import get_store
from tests.factories import BookFactory
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
SECRET = "s3cr3t-4711"


def secret_titles(request: HttpRequest) -> JsonResponse:
    """An N+1 whose parameter values (and query string) hold SECRET."""
    list(Book.objects.order_by("id")[:4])  # the rows the per-row lookups are for
    found = [Book.objects.filter(title=f"{SECRET}-{i}").exists() for i in range(4)]
    return JsonResponse({"found": found})


urlpatterns = [
    path("otel/secret/", secret_titles, name="secret"),
    path("mw/", include("tests.middleware_urls")),
]


def _reset_globals() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    metrics_internal._PROXY_METER_PROVIDER = metrics_internal._ProxyMeterProvider()
    otel._instruments = None


@pytest.fixture(autouse=True)
def _otel_globals() -> Iterator[None]:
    _reset_globals()
    get_store().clear()
    yield
    _reset_globals()
    get_store().clear()


class Sdk:
    """A tracer provider with an in-memory exporter and a meter provider with a reader."""

    def __init__(self, *, tracing: bool = True, metering: bool = True) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        if tracing:
            trace.set_tracer_provider(self.tracer_provider)
        if metering:
            metrics.set_meter_provider(self.meter_provider)

    def finished(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                if scope.scope.name != "perfaudit":
                    continue
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


def _get(url: str, **perfaudit: Any) -> None:
    with override_settings(
        MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__, PERFAUDIT=perfaudit, DEBUG=False
    ):
        assert Client().get(url).status_code == 200


def _perfaudit_values(span: ReadableSpan) -> list[str]:
    """Every value perfaudit put on ``span``: its attributes and its events'."""
    values = [str(v) for k, v in (span.attributes or {}).items() if k.startswith("perfaudit.")]
    for event in span.events:
        if event.name.startswith("perfaudit."):
            values += [str(v) for v in (event.attributes or {}).values()]
    return values


AUTHOR_LOOKUP = analyze(
    'SELECT "testapp_author"."id", "testapp_author"."name" FROM "testapp_author" '
    'WHERE "testapp_author"."id" = %s LIMIT 21'
).fingerprint


def test_django_instrumentation_span_carries_the_analysis() -> None:
    sdk = Sdk()
    books = BookFactory.create_batch(4)
    with override_settings(
        MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__, PERFAUDIT={}, DEBUG=False
    ):
        DjangoInstrumentor().instrument(
            tracer_provider=sdk.tracer_provider, meter_provider=sdk.meter_provider
        )
        try:
            assert Client().get("/mw/books/").status_code == 200
        finally:
            DjangoInstrumentor().uninstrument()
    (span,) = sdk.finished()  # the instrumentation's span; perfaudit made none
    assert span.attributes is not None
    assert span.attributes["perfaudit.query_count"] == 1 + len(books)
    stats = get_store().get("mw:books")
    assert stats is not None
    assert span.attributes["perfaudit.db_ms"] == pytest.approx(stats.db_ms_total, abs=1e-3)
    assert span.attributes["perfaudit.view"] == "mw:books"
    assert span.attributes["perfaudit.finding_count"] == sum(stats.findings.values())
    # The other axes: this view uses no cache and makes no outbound call.
    assert span.attributes["perfaudit.cache_calls"] == 0
    assert span.attributes["perfaudit.http_calls"] == 0
    assert span.attributes["perfaudit.cpu_ms"] > 0  # a sync view: its thread's CPU time
    events = [e for e in span.events if e.name == "perfaudit.finding"]
    assert len(events) == span.attributes["perfaudit.finding_count"] >= 1
    n_plus_one = next(e.attributes for e in events if e.attributes["kind"] == "n_plus_one")
    assert n_plus_one["relation"] == "Book.author"
    assert n_plus_one["fix"] == 'select_related("author")'
    assert n_plus_one["fingerprint"] == AUTHOR_LOOKUP
    assert n_plus_one["count"] == len(books)
    assert str(n_plus_one["callsite"]).startswith("tests/middleware_views.py:")


def test_without_instrumentation_no_span_is_made_and_metrics_are_recorded() -> None:
    sdk = Sdk()
    BookFactory.create_batch(3)
    _get("/mw/books/")
    _get("/mw/books/")
    _get("/mw/n/0/")
    assert sdk.finished() == ()
    by_view = {
        p.attributes["perfaudit.view"]: p for p in sdk.points("perfaudit.queries_per_request")
    }
    assert set(by_view) == {"mw:books", "mw:n"}
    assert by_view["mw:books"].count == 2
    assert by_view["mw:books"].sum == 2 * 4
    assert by_view["mw:books"].attributes["http.route"] == "mw/books/"
    assert by_view["mw:n"].count == 1
    assert by_view["mw:n"].sum == 0
    findings = {
        (p.attributes["perfaudit.view"], p.attributes["perfaudit.finding.kind"]): p.value
        for p in sdk.points("perfaudit.findings")
    }
    assert findings == {("mw:books", "n_plus_one"): 2}


def test_the_current_span_of_an_outer_instrumentation_is_used() -> None:
    sdk = Sdk()
    with sdk.tracer_provider.get_tracer("wsgi").start_as_current_span("GET"):
        _get("/mw/n/2/")
    (span,) = sdk.finished()
    assert span.name == "GET"
    assert span.attributes is not None
    assert span.attributes["perfaudit.query_count"] == 2
    assert span.attributes["perfaudit.view"] == "mw:n"


def test_unresolved_urls_share_one_view_attribute() -> None:
    sdk = Sdk()
    with override_settings(MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__, DEBUG=False):
        for url in ("/nothing/a/", "/nothing/b/"):
            assert Client().get(url).status_code == 404
    (point,) = sdk.points("perfaudit.queries_per_request")
    assert point.attributes == {"perfaudit.view": otel.UNRESOLVED}
    assert point.count == 2


def test_no_parameter_values_or_query_string_are_exported() -> None:
    sdk = Sdk()
    with sdk.tracer_provider.get_tracer("wsgi").start_as_current_span("GET"):
        _get(f"/otel/secret/?q={SECRET}")
    (span,) = sdk.finished()
    values = _perfaudit_values(span)
    assert any("testapp_book" in v for v in values), values  # the finding was exported
    assert not [v for v in values if SECRET in v]
    for point in sdk.points("perfaudit.queries_per_request") + sdk.points("perfaudit.findings"):
        assert SECRET not in repr(dict(point.attributes))


def test_sampling_applies() -> None:
    sdk = Sdk()
    with sdk.tracer_provider.get_tracer("wsgi").start_as_current_span("GET"):
        _get("/mw/n/2/", SAMPLE_RATE=0)
    (span,) = sdk.finished()
    assert not _perfaudit_values(span)
    assert sdk.points("perfaudit.queries_per_request") == []


def test_otel_false_turns_it_off_with_providers_set() -> None:
    sdk = Sdk()
    with sdk.tracer_provider.get_tracer("wsgi").start_as_current_span("GET"):
        _get("/mw/n/2/", OTEL=False)
    (span,) = sdk.finished()
    assert not _perfaudit_values(span)
    assert sdk.points("perfaudit.queries_per_request") == []


def test_without_a_provider_nothing_is_recorded() -> None:
    # No provider set: the API's proxies. perfaudit makes no instrument on them,
    # so a provider configured later has nothing of the earlier requests.
    _get("/mw/n/2/")
    assert otel._instruments is None
    sdk = Sdk()
    assert sdk.points("perfaudit.queries_per_request") == []
    _get("/mw/n/2/")
    (point,) = sdk.points("perfaudit.queries_per_request")
    assert point.count == 1


# -- end to end: OTLP/HTTP to a receiver on 127.0.0.1 ----------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _attributes(pairs: Any) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        out[pair.key] = getattr(pair.value, kind) if kind else None
    return out


def test_otlp_http_export_end_to_end(receiver: tuple[str, list[tuple[str, bytes]]]) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    url, received = receiver
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=5))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics", timeout=5),
        export_interval_millis=3_600_000,
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        with tracer_provider.get_tracer("wsgi").start_as_current_span("GET /otel/secret/"):
            _get(f"/otel/secret/?q={SECRET}")
        assert meter_provider.force_flush(timeout_millis=10_000)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    bodies = dict(received)
    assert set(bodies) >= {"/v1/traces", "/v1/metrics"}
    for body in bodies.values():
        assert SECRET.encode() not in body  # nowhere in what left the process
    spans = [
        span
        for resource in ExportTraceServiceRequest.FromString(bodies["/v1/traces"]).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    (span,) = spans
    attrs = _attributes(span.attributes)
    assert attrs["perfaudit.query_count"] == 5  # the parent rows, then 4 per-row lookups
    assert attrs["perfaudit.view"] == "secret"
    (event,) = [e for e in span.events if e.name == "perfaudit.finding"]
    event_attrs = _attributes(event.attributes)
    assert event_attrs["kind"] == "n_plus_one"
    assert event_attrs["count"] == 4
    assert "testapp_book.title = ?" in event_attrs["fingerprint"]

    exported = ExportMetricsServiceRequest.FromString(bodies["/v1/metrics"])
    names = {
        metric.name: metric
        for resource in exported.resource_metrics
        for scope in resource.scope_metrics
        if scope.scope.name == "perfaudit"
        for metric in scope.metrics
    }
    (histogram_point,) = names["perfaudit.queries_per_request"].histogram.data_points
    assert histogram_point.count == 1
    assert histogram_point.sum == 5
    assert _attributes(histogram_point.attributes)["perfaudit.view"] == "secret"
    (counter_point,) = names["perfaudit.findings"].sum.data_points
    assert counter_point.as_int == 1
    assert _attributes(counter_point.attributes)["perfaudit.finding.kind"] == "n_plus_one"


def test_nothing_is_sent_without_a_provider(receiver: tuple[str, list[tuple[str, bytes]]]) -> None:
    # The exporter package is installed and the endpoint is configured for it,
    # but no provider is set: the API drops everything, nothing leaves.
    url, received = receiver
    with override_settings(MIDDLEWARE=MIDDLEWARE, ROOT_URLCONF=__name__, DEBUG=False):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
            assert Client().get(f"/otel/secret/?q={SECRET}").status_code == 200
    assert trace.get_current_span().is_recording() is False
    assert received == []

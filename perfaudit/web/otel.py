"""OpenTelemetry: each recorded request's figures on its span, and two metrics.

perfaudit does not grow its own fleet view; it feeds the tracing and metrics
pipeline a team already runs. For every recorded (sampled) request, from the
request's one :class:`~perfaudit.detect.analysis.Analysis`:

* on the **current span** (the request span of
  ``opentelemetry-instrumentation-django``, or of whatever WSGI/ASGI
  instrumentation is active) the attributes ``perfaudit.query_count``,
  ``perfaudit.db_ms``, ``perfaudit.finding_count``, ``perfaudit.view`` and
  ``perfaudit.sample_rate``, and one ``perfaudit.finding`` event per finding
  (kind, severity, relation, fix, fingerprint, count, DB ms, call site);
* through the metrics API, the histogram ``perfaudit.queries_per_request`` and
  the counter ``perfaudit.findings`` (by ``perfaudit.finding.kind``), both with
  the view as ``perfaudit.view`` (and ``http.route`` when the URL resolved).

Nothing here creates a span: without one (no instrumentation), only the
metrics are recorded. Without a configured provider nothing is recorded at all
— the API's default providers drop everything — and without the
``opentelemetry-api`` package (the ``perfaudit[otel]`` extra) this module
imports nothing and returns at once.

No parameter value, query string, header or payload is exported: findings
carry fingerprints (every constant is ``?``), and a URL that resolved to no
view is exported as ``<unresolved>``, so a scanner's random paths cannot blow
up the metrics' cardinality either.

The span part runs on the request path (:func:`annotate_span`, called by
the middleware before it returns the response): a span's attributes can only
be set while it is open, and the instrumentation ends the request span as the
response passes it. With a recording span, the request's detectors therefore
run before the response leaves, instead of after it; without one nothing is
computed there. The metrics (:func:`record_metrics`) are recorded with the
rest of the reporting, after the response (see docs/production.md).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from django.http import HttpRequest

    from perfaudit.capture import Recording
    from perfaudit.detect.analysis import Analysis

__all__ = ["UNRESOLVED", "annotate_span", "record_metrics"]

logger = logging.getLogger("perfaudit")

#: The view attribute of a request whose URL resolved to no view (a 404).
UNRESOLVED: Final = "<unresolved>"
#: Most ``perfaudit.finding`` events per span (``perfaudit.finding_count`` has them all).
MAX_EVENTS: Final = 10
#: Longest fingerprint exported; longer ones are shortened (with "…").
MAX_FINGERPRINT: Final = 1000
_QUERY_BUCKETS: Final = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

_lock = threading.Lock()
# (trace module, metrics module), False when opentelemetry-api is not installed.
_api: Any = None
# (meter provider, histogram, counter) for the provider instruments were made on.
_instruments: tuple[Any, Any, Any] | None = None
_failed = False


def annotate_span(
    request: HttpRequest, view: str, recording: Recording, *, sample_rate: float
) -> None:
    """Add this request's figures and findings to the current span, if one is recording.

    Called on the request path: the instrumentation ends the request span as
    the response passes it. Without a recording span it returns before the
    analysis is touched, so the detectors stay off the request path. Never
    raises: a failure is logged once.
    """
    api = _load()
    if not api:
        return
    try:
        span = api[0].get_current_span()
        if not span.is_recording() or not _enabled():
            return
        analysis = recording.analysis
        attributes = _attributes(request, view)
        _annotate(span, analysis, analysis.findings, attributes, sample_rate)
    except Exception:
        _failure()


def record_metrics(request: HttpRequest, view: str, analysis: Analysis) -> None:
    """Record the histogram and the counter for this request, if a meter
    provider is configured (after the response is fine: metrics need no span).
    Never raises: a failure is logged once."""
    api = _load()
    if not api:
        return
    try:
        instruments = _metric_instruments(api[1])
        if instruments is None or not _enabled():
            return
        _record(instruments, analysis.query_count, analysis.findings, _attributes(request, view))
    except Exception:
        _failure()


def _enabled() -> bool:
    from perfaudit.conf import app_settings

    return app_settings.OTEL


def _attributes(request: HttpRequest, view: str) -> dict[str, str]:
    match = getattr(request, "resolver_match", None)
    attributes = {"perfaudit.view": view if match is not None else UNRESOLVED}
    route = getattr(match, "route", None)
    if route:
        attributes["http.route"] = str(route)
    return attributes


def _failure() -> None:
    global _failed
    if not _failed:
        _failed = True
        logger.exception("perfaudit: OpenTelemetry export failed (logged once)")


def _load() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            _api = False
        else:
            _api = (trace, metrics)
    return _api


def _metric_instruments(metrics: Any) -> tuple[Any, Any] | None:
    """The histogram and counter on the current meter provider; ``None`` when
    no provider is configured (the API's proxy would drop every value)."""
    global _instruments
    provider = metrics.get_meter_provider()
    cached = _instruments
    if cached is not None and cached[0] is provider:
        return cached[1], cached[2]
    if _is_default(provider):
        return None
    with _lock:
        from perfaudit import __version__

        meter = provider.get_meter("perfaudit", __version__)
        histogram = meter.create_histogram(
            "perfaudit.queries_per_request",
            unit="{query}",
            description="SQL queries executed per recorded request",
            explicit_bucket_boundaries_advisory=_QUERY_BUCKETS,
        )
        counter = meter.create_counter(
            "perfaudit.findings",
            unit="{finding}",
            description="Findings (N+1, duplicates, ...) in recorded requests, by kind",
        )
        _instruments = (provider, histogram, counter)
    return histogram, counter


def _is_default(provider: Any) -> bool:
    """Whether ``provider`` is the API's placeholder (no SDK configured)."""
    from opentelemetry import metrics

    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError:  # pragma: no cover - a future API without the proxy
        return isinstance(provider, metrics.NoOpMeterProvider)
    return isinstance(provider, _ProxyMeterProvider | metrics.NoOpMeterProvider)


def site_text(site: Any) -> str:
    from perfaudit.detect.analysis import site_text as text

    return text(site)


def _annotate(
    span: Any, analysis: Analysis, findings: Any, attributes: dict[str, str], sample_rate: float
) -> None:
    values: dict[str, Any] = {
        "perfaudit.query_count": analysis.query_count,
        "perfaudit.db_ms": round(analysis.db_ms, 3),
        "perfaudit.finding_count": len(findings),
        "perfaudit.view": attributes["perfaudit.view"],
        "perfaudit.sample_rate": float(sample_rate),
        # The other time axes (cache, outbound HTTP, CPU), as counts and times only.
        "perfaudit.cache_calls": analysis.cache.calls,
        "perfaudit.cache_hits": analysis.cache.hits,
        "perfaudit.cache_ms": round(analysis.cache.ms, 3),
        "perfaudit.http_calls": analysis.http.calls,
        "perfaudit.http_ms": round(analysis.http.ms, 3),
    }
    if analysis.cpu_ms is not None:  # not measured on an event loop
        values["perfaudit.cpu_ms"] = round(analysis.cpu_ms, 3)
    span.set_attributes(values)
    for finding in findings[:MAX_EVENTS]:
        event: dict[str, Any] = {
            "kind": finding.kind,
            "severity": finding.severity,
            "fingerprint": _short(finding.fingerprint),
            "count": finding.count,
            "db_ms": round(finding.total_ms, 3),
        }
        if finding.relation:
            event["relation"] = finding.relation
        if finding.fix:
            event["fix"] = finding.fix
        if finding.callsite is not None:
            event["callsite"] = site_text(finding.callsite)
        span.add_event("perfaudit.finding", event)


def _record(
    instruments: tuple[Any, Any], queries: int, findings: Any, attributes: dict[str, str]
) -> None:
    histogram, counter = instruments
    histogram.record(queries, attributes)
    kinds: dict[str, int] = {}
    for finding in findings:
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    for kind, count in kinds.items():
        counter.add(count, {**attributes, "perfaudit.finding.kind": kind})


def _short(text: str) -> str:
    return text if len(text) <= MAX_FINGERPRINT else text[: MAX_FINGERPRINT - 1] + "…"

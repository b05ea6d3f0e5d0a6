"""The response headers perfaudit adds: ``Server-Timing`` and ``X-PerfAudit-*``.

Set on the request path (the only reporting that is), so they are read off
the raw recording: the query count, the DB time and the duration the stored
record will hold, without building an event per query. Sent only when
``settings.DEBUG`` is on or ``PERFAUDIT["HEADERS"]`` is set (the middleware
decides).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from django.http.response import HttpResponseBase, ResponseHeaders

if TYPE_CHECKING:
    from perfaudit.capture import Recording

__all__ = [
    "PAYLOAD_HEADER",
    "QUERIES_HEADER",
    "SERVER_TIMING_HEADER",
    "db_seconds",
    "set_headers",
    "side_timing",
]

SERVER_TIMING_HEADER: Final = "Server-Timing"
QUERIES_HEADER: Final = "X-PerfAudit-Queries"
PAYLOAD_HEADER: Final = "X-PerfAudit-Payload"


def set_headers(response: HttpResponseBase, recording: Recording, payload: str | None) -> None:
    """Add the headers; their values are computed first, so a failure leaves none behind."""
    queries = len(recording)
    db_ms = db_seconds(recording) * 1000.0
    total_ms = (recording.duration or 0.0) * 1000.0
    described = f"{queries} {'query' if queries == 1 else 'queries'}"
    timing = f'db;dur={db_ms:.2f};desc="{described}", app;dur={total_ms:.2f}'
    timing += side_timing(recording)
    existing = response.headers.get(SERVER_TIMING_HEADER)
    merged = f"{existing}, {timing}" if existing else timing
    headers = _TimingKeeper(response.headers.items(), timing)
    headers[SERVER_TIMING_HEADER] = merged
    headers[QUERIES_HEADER] = str(queries)
    response.headers = headers
    if payload is not None:
        response.headers[PAYLOAD_HEADER] = payload


class _TimingKeeper(ResponseHeaders):
    """Response headers that keep perfaudit's ``Server-Timing`` entries.

    A middleware that runs after perfaudit's may set ``Server-Timing``
    wholesale: django-debug-toolbar does (``response.headers[...] = value``),
    and is installed outermost as its docs say, so it would erase perfaudit's
    ``db``/``app`` entries. Whichever middleware writes last, the header then
    holds both: a new value that lacks perfaudit's entries gets them appended.
    """

    def __init__(self, items: object, timing: str) -> None:
        self._perfaudit_timing = timing
        super().__init__(dict(items))  # type: ignore[call-overload]

    def __setitem__(self, key: str, value: str | bytes | int) -> None:
        if key.lower() == SERVER_TIMING_HEADER.lower() and isinstance(value, str):
            timing = getattr(self, "_perfaudit_timing", "")
            if timing and timing not in value:
                value = f"{value}, {timing}" if value else timing
        super().__setitem__(key, value)


def db_seconds(recording: Recording) -> float:
    """Seconds in the recording's queries, from the raw tuples.

    Their ``(end - start)``, summed in execution order: the same floating-point
    operations as ``Recording.db_time``, without materialising a ``QueryEvent``
    per query on the request path.
    """
    raw = recording._raw
    if len(raw) < len(recording._events):  # built from events, not by the recorder
        return recording.db_time
    return sum(event[5] - event[4] for event in raw)


def side_timing(recording: Recording) -> str:
    """The ``cache``, ``http`` and ``cpu`` entries (``, cache;dur=…;desc="3 calls, 1 hit"``).

    From the raw tuples too, like :func:`db_seconds`; ``cpu`` only when the
    thread's CPU time was measured (not for an async view).
    """
    cache_raw, http_raw = recording._cache_raw, recording._http_raw
    if len(cache_raw) >= len(recording._cache_events) and len(http_raw) >= len(
        recording._http_events
    ):
        calls, hits = len(cache_raw), sum(e[3] for e in cache_raw)
        cache_ms = sum(e[6] - e[5] for e in cache_raw) * 1000.0
        requests, failed = len(http_raw), sum(1 for e in http_raw if e[6] is not None)
        http_ms = sum(e[5] - e[4] for e in http_raw) * 1000.0
    else:  # a recording built from events
        calls, hits = len(recording.cache), sum(e.hits for e in recording.cache)
        cache_ms = sum(e.duration for e in recording.cache) * 1000.0
        requests = len(recording.http)
        failed = sum(1 for e in recording.http if e.error is not None)
        http_ms = sum(e.duration for e in recording.http) * 1000.0
    cache = f"{calls} call{'' if calls == 1 else 's'}, {hits} hit{'' if hits == 1 else 's'}"
    http = f"{requests} call{'' if requests == 1 else 's'}" + (
        f", {failed} failed" if failed else ""
    )
    parts = [f'cache;dur={cache_ms:.2f};desc="{cache}"', f'http;dur={http_ms:.2f};desc="{http}"']
    cpu = recording.cpu_time
    if cpu is not None:
        parts.append(f"cpu;dur={cpu * 1000.0:.2f}")
    return "".join(", " + part for part in parts)

"""``manage.py case_study``: the event list at each lever, on the configured database.

The case study's three levers, applied one after another as the demo
repository's commits apply them (``demo.py``): state 0 is ``views.py``, state
3 is ``views_fixed.py``, and states 1 and 2 take the first one and two fixes.
For each state, on the data already seeded (``seed --size large``), one
``GET /api/events/?tag=jazz`` (page size 10):

* queries, the paginator ``COUNT`` and the page query, timed from the
  recording (median of ``--runs``);
* the whole request without perfaudit, and what perfaudit adds to it:
  capture, analysis (every query's fingerprint and the detectors) and
  payload hashing, and their share of the request time. Capture is the
  extra CPU time of this process (``time.process_time``) between the
  request recorded and the request alone: the request's wall time waits on
  PostgreSQL and moves by far more than capture costs; the CPU time does not
  count the server's work;
* the payload hash, which must be the same at every state;
* with ``--explain``, ``EXPLAIN (ANALYZE, BUFFERS)`` of the COUNT and the
  page query.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import QuerySet
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

import perfaudit
import perfaudit.detect
from example_project.events import serializers, serializers_fixed, views, views_fixed
from example_project.events.models import Event

#: State name -> (events_for_listing, filter_by_tag, with_attendee_count, EventSerializer).
STATES: dict[str, tuple[Callable[..., QuerySet[Event]], ...]] = {
    "0 main (as drifted)": (
        views.events_for_listing,
        views.filter_by_tag,
        views.with_attendee_count,
        serializers.EventSerializer,
    ),
    "1 + N+1 fix": (
        views_fixed.events_for_listing,
        views.filter_by_tag,
        views.with_attendee_count,
        serializers_fixed.EventSerializer,
    ),
    "2 + COUNT fix": (
        views_fixed.events_for_listing,
        views_fixed.filter_by_tag,
        views.with_attendee_count,
        serializers_fixed.EventSerializer,
    ),
    "3 + GROUP BY fix": (
        views_fixed.events_for_listing,
        views_fixed.filter_by_tag,
        views_fixed.with_attendee_count,
        serializers_fixed.EventSerializer,
    ),
}


def event_list_at(state: str) -> Callable[..., Response]:
    """``event_list`` as the demo repository's commit of ``state`` has it."""
    listing, by_tag, attendees, serializer = STATES[state]

    @api_view(["GET"])
    def event_list(request: Request) -> Response:
        events = listing()
        tag = request.query_params.get("tag")
        if tag:
            events = by_tag(events, tag)
        events = attendees(events)
        paginator = views.Pagination()
        page = paginator.paginate_queryset(events.order_by("starts_at", "id"), request)
        return paginator.get_paginated_response(serializer(page, many=True).data)

    return event_list


@dataclass
class Measured:
    queries: int = 0
    count_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    plain_ms: list[float] = field(default_factory=list)
    plain_cpu_ms: list[float] = field(default_factory=list)
    recorded_cpu_ms: list[float] = field(default_factory=list)
    analysis_ms: list[float] = field(default_factory=list)
    hashing_ms: list[float] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    recording: Any = None


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def measure(state: str, tag: str, runs: int) -> Measured:
    view = event_list_at(state)
    factory = APIRequestFactory()
    result = Measured()

    def request() -> Any:
        response = view(factory.get("/api/events/", {"tag": tag}, HTTP_HOST="localhost"))
        response.render()
        return response

    request()  # warm-up: connection, caches
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        request()
        result.plain_ms.append(_ms(started))
        result.plain_cpu_ms.append((time.process_time() - cpu) * 1000)
        with perfaudit.record() as recording:
            cpu = time.process_time()
            response = request()
            result.recorded_cpu_ms.append((time.process_time() - cpu) * 1000)
        started = time.perf_counter()
        for event in recording.queries:
            perfaudit.analyze(event.sql)
        perfaudit.detect.run(recording)
        result.analysis_ms.append(_ms(started))
        started = time.perf_counter()
        result.hashes.add(perfaudit.digest(response).canonical)
        result.hashing_ms.append(_ms(started))
        queries = recording.queries
        result.queries = len(queries)
        result.count_ms.append(queries[0].duration * 1000)
        result.page_ms.append(queries[1].duration * 1000)
        result.recording = recording
    return result


def _capture_per_query(queries: int = 500, rounds: int = 15) -> float:
    """µs of CPU that recording adds to one query: ``SELECT 1``, recorded and not.

    The fastest of ``rounds`` blocks of each kind, as microbenchmarks do: the
    noise of the shared machine only ever adds time.
    """

    def block() -> float:
        with connection.cursor() as cursor:
            cpu = time.process_time()
            for _ in range(queries):
                cursor.execute("SELECT 1")
            return time.process_time() - cpu

    plain, recorded = [], []
    for _ in range(rounds):
        plain.append(block())
        with perfaudit.record():
            recorded.append(block())
    return max(min(recorded) - min(plain), 0.0) / queries * 1e6


class Command(BaseCommand):
    help = "The event list at each of the three levers: query times, perfaudit's cost, plans."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tag", default="jazz", help="The tag filter (default: jazz).")
        parser.add_argument("--runs", type=int, default=5, help="Runs per state (default: 5).")
        parser.add_argument(
            "--explain",
            action="store_true",
            help="Print EXPLAIN (ANALYZE, BUFFERS) of the COUNT and page query at each state.",
        )

    def handle(self, *args: Any, tag: str, runs: int, explain: bool, **options: Any) -> None:
        if not Event.objects.exists():
            raise CommandError("No events: run `manage.py seed --size large` first.")
        matching = Event.objects.filter(tags__slug=tag).count()
        self.stdout.write(
            f"{Event.objects.count():,} events, {matching:,} tagged {tag!r}; "
            f"{connection.vendor}; median of {runs} runs, ms"
        )
        per_query = _capture_per_query()
        header = (
            f"{'state':<20} {'queries':>7} {'COUNT':>9} {'page':>9} {'request':>9} "
            f"{'app CPU':>8} {'Δ CPU':>7} {'capture':>8} {'analysis':>8} {'hashing':>8} "
            f"{'perfaudit':>9}"
        )
        self.stdout.write(header)
        measured: dict[str, Measured] = {}
        for state in STATES:
            m = measured[state] = measure(state, tag, runs)
            med = statistics.median
            plain, cpu = med(m.plain_ms), med(m.plain_cpu_ms)
            in_situ = med(m.recorded_cpu_ms) - cpu
            capture = per_query * m.queries / 1000
            own = capture + med(m.analysis_ms) + med(m.hashing_ms)
            self.stdout.write(
                f"{state:<20} {m.queries:>7} {med(m.count_ms):>9.1f} {med(m.page_ms):>9.1f} "
                f"{plain:>9.1f} {cpu:>8.1f} {in_situ:>+7.1f} {capture:>8.2f} "
                f"{med(m.analysis_ms):>8.2f} {med(m.hashing_ms):>8.2f} {own / plain:>9.2%}"
            )
        self.stdout.write(
            f"capture = queries x {per_query:.1f} µs, the CPU time recording adds to one query "
            "(fastest of 15 blocks of 500 x SELECT 1, recorded and not, in this process);\n"
            "Δ CPU = this process's CPU time, request recorded minus alone (noise: a few ms)"
        )
        hashes = set().union(*(m.hashes for m in measured.values()))
        verdict = "identical at every state" if len(hashes) == 1 else "DIFFERENT"
        self.stdout.write(f"payload: {verdict} ({', '.join(sorted(hashes))})")
        if explain:
            for state, m in measured.items():
                queries = sorted(m.recording.queries, key=lambda q: -q.duration)
                self.stdout.write(f"\n-- {state}: slowest queries of the last run")
                for event in queries[:6]:
                    sql = " ".join(event.sql.split())
                    self.stdout.write(f"{event.duration * 1000:9.1f} ms  {sql[:150]}")
            for state, m in measured.items():
                for name, event in (
                    ("COUNT", m.recording.queries[0]),
                    ("page", m.recording.queries[1]),
                ):
                    self.stdout.write(f"\n-- {state}: {name} query\n{event.sql}\n")
                    with connection.cursor() as cursor:
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {event.sql}", event.params)
                        self.stdout.write("\n".join(row[0] for row in cursor.fetchall()))

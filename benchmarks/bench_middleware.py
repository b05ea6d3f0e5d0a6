"""Per-request cost of PerfAuditMiddleware: a 15-query and a 201-query DRF list view.

Run from the repository root::

    .venv/bin/python benchmarks/bench_middleware.py [--rounds N] [--large-rounds M]
        [--per-round K] [--idle-rounds I]

Workloads: DRF ``ListAPIView``s whose serializer nests each book's author
without ``select_related``, so 1 + N queries per request (the N+1 the
detectors report): 14 books (15 queries) and 200 books (201 queries). SQLite
file in a temporary directory, persistent connections (``CONN_MAX_AGE=None``,
so no variant pays for reconnecting), ``DEBUG`` off, JSON renderer only, no
authentication.

Each request goes through Django's ``BaseHandler.get_response()`` (URL
resolution, the middleware chain, the view, rendering) with a request built by
``RequestFactory``, and is then closed with ``response.close()``, as a server
does once it has sent the response. Two times per request:

* **own time**: ``get_response()`` until it returns the response, which is
  what the client waits for (what a WSGI server adds is the same with or
  without perfaudit);
* **after the response**: ``response.close()``, where perfaudit does its
  reporting (Django's own closing, the ``request_finished`` signal, is in
  every variant, so the table also shows it minus the baseline's).

Variants, each its own handler with its own middleware chain:

(0) no middleware (the baseline; ``"perfaudit"`` is in ``INSTALLED_APPS``,
    so its execute wrapper is installed and idle, as in a user's project);
(a) ``PerfAuditMiddleware`` with the default settings;
(b) (a) + ``HEADERS``: ``Server-Timing`` and ``X-PerfAudit-Queries``;
(c) (a) + ``JSONL_PATH``: one JSON line per request appended to a file;
(d) ``SAMPLE_RATE=0``: a request that is not sampled;
(e) (a) with ``CAPTURE_CALLSITES=False``: what the call-site walk costs, the
    largest part of what remains on the request path.

Every round runs ``--per-round`` requests of each variant, interleaved
request by request in an order rotated every time, the garbage collector
collected before and disabled during the round; one warm-up round is
discarded. A variant's value in a round is the *fastest* of its requests: the
request's own work is deterministic and other processes can only add to it,
so on a shared machine the fastest of a few neighbouring requests is the
least disturbed one. Ratios and differences are taken against (0) in the same
round, then summarised as median (min–max) over rounds. Times are printed
twice: wall clock, and the thread's CPU time (``time.thread_time()``, which
leaves out the time other processes had the CPU; SQLite runs in this thread,
so it is counted).

Each variant is checked to do what it claims (the right query count, nothing
reported before ``close()``, one stored request and one JSONL line after it,
headers only in (b), nothing stored when not sampled), so the benchmark fails
loudly instead of measuring nothing. Last, ``bench_idle.run()``: the per-query
cost of perfaudit's wrapper while nothing records.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, thread_time
from typing import Any

import django
from django.conf import settings
from django.core.management import call_command

SMALL, LARGE = 14, 200
MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
TARGETS = {SMALL: 1.05, LARGE: 1.03}  # ratio of (a) to (0), own time

# The URLconf is this module (ROOT_URLCONF = __name__); filled in by main()
# once Django is configured, because DRF cannot be imported before.
urlpatterns: list[Any] = []


class BenchmarkError(AssertionError):
    """A variant did not do what it should have."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


def configure(directory: str) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="perfaudit-benchmarks-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        ALLOWED_HOSTS=["testserver"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["perfaudit", "benchapp", "rest_framework"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(directory, "bench.sqlite3"),
                "CONN_MAX_AGE": None,
            }
        },
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        REST_FRAMEWORK={
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "UNAUTHENTICATED_USER": None,
        },
        PERFAUDIT={},
    )
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


def url(books: int) -> str:
    return f"/books/{books}/"


def view_name(books: int) -> str:
    return f"books-{books}"


def build_views() -> None:
    """The two DRF list views and their URLs, plus the data they list."""
    from benchapp.models import Author, Book
    from django.urls import path
    from rest_framework import generics, serializers

    class AuthorSerializer(serializers.ModelSerializer[Author]):
        class Meta:
            model = Author
            fields = ("id", "name", "email")

    class BookSerializer(serializers.ModelSerializer[Book]):
        author = AuthorSerializer()

        class Meta:
            model = Book
            fields = ("id", "title", "price", "pages", "published", "in_print", "author")

    def book_list(books: int) -> Any:
        class BookList(generics.ListAPIView):  # type: ignore[type-arg]
            # No select_related: one query per author.
            queryset = Book.objects.filter(pages=books).order_by("pk")
            serializer_class = BookSerializer

        return BookList.as_view()

    urlpatterns[:] = [
        path(url(n).strip("/") + "/", book_list(n), name=view_name(n)) for n in (SMALL, LARGE)
    ]
    for books in (SMALL, LARGE):
        authors = Author.objects.bulk_create(
            Author(name=f"Author {i}", email=f"a{i}@example.com") for i in range(books)
        )
        Book.objects.bulk_create(
            Book(title=f"Book {i}", author=authors[i], price="9.99", pages=books)
            for i in range(books)
        )


@dataclass
class Result:
    """Per variant, one value per round, in µs."""

    own: dict[str, list[float]]  # get_response(), wall clock
    after: dict[str, list[float]]  # response.close(), wall clock
    own_cpu: dict[str, list[float]]  # get_response(), this thread's CPU time
    after_cpu: dict[str, list[float]]  # response.close(), this thread's CPU time
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=60, help="rounds on the 15-query view (default 60)"
    )
    parser.add_argument(
        "--large-rounds", type=int, default=25, help="rounds on the 201-query view (25)"
    )
    parser.add_argument(
        "--per-round",
        type=int,
        default=5,
        help="requests of each variant per round; the fastest counts (default 5)",
    )
    parser.add_argument("--idle-rounds", type=int, default=30, help="bench_idle rounds (30)")
    args = parser.parse_args()
    _check(
        args.rounds >= 2 and args.large_rounds >= 2 and args.per_round >= 1,
        "use at least 2 rounds and 1 request per round",
    )
    with tempfile.TemporaryDirectory(prefix="perfaudit-bench-") as directory:
        configure(directory)
        build_views()
        met = run({SMALL: args.rounds, LARGE: args.large_rounds}, args.per_round, Path(directory))
        print()
        import bench_idle

        bench_idle.run(args.idle_rounds)
    sys.exit(0 if met else 1)


def run(rounds: dict[int, int], per_round: int, directory: Path) -> bool:
    import rest_framework
    from django.core.handlers.base import BaseHandler
    from django.http import HttpResponseBase
    from django.test import RequestFactory
    from django.test.utils import override_settings

    import perfaudit
    from perfaudit.web.middleware import QUERIES_HEADER
    from perfaudit.web.store import get_store

    factory = RequestFactory()
    jsonl = directory / "requests.jsonl"

    def handler(middleware: list[str]) -> BaseHandler:
        with override_settings(MIDDLEWARE=middleware):
            base = BaseHandler()
            base.load_middleware()
        return base

    plain, audited = handler([]), handler(MIDDLEWARE)
    variants: dict[str, tuple[str, BaseHandler, dict[str, Any]]] = {
        "0": ("no middleware", plain, {}),
        "a": ("PerfAuditMiddleware, defaults", audited, {}),
        "b": ("  + HEADERS", audited, {"HEADERS": True}),
        "c": ("  + JSONL_PATH", audited, {"JSONL_PATH": str(jsonl)}),
        "d": ("SAMPLE_RATE=0 (not sampled)", audited, {"SAMPLE_RATE": 0}),
        "e": ("(a) with CAPTURE_CALLSITES=False", audited, {"CAPTURE_CALLSITES": False}),
    }
    keys = list(variants)
    results: dict[int, Result] = {}
    for books in (SMALL, LARGE):
        path, queries = url(books), books + 1

        def call(base: BaseHandler, path: str = path) -> HttpResponseBase:
            return base.get_response(factory.get(path))

        # -- checks: each variant does what it claims -------------------------------
        with perfaudit.record() as rec:
            response = call(plain)
            response.close()
        _check(len(rec) == queries, f"{path} ran {len(rec)} queries, not {queries}")
        body = response.content  # type: ignore[attr-defined]
        for key, (_, base, options) in variants.items():
            get_store().clear()
            before = len(jsonl.read_bytes().splitlines()) if jsonl.exists() else 0
            with override_settings(PERFAUDIT=options):
                response = call(base)
                _check(len(get_store()) == 0, f"({key}) reported before the response was closed")
                response.close()
            _check(response.content == body, f"({key}) changed the response body")  # type: ignore[attr-defined]
            stats = get_store().get(view_name(books))
            if key in "abce":
                _check(stats is not None and stats.queries_max == queries, f"({key}) {stats}")
            else:
                _check(stats is None, f"({key}) stored a request it should not have")
            _check(get_store().dropped_requests == 0, f"({key}) dropped a report")
            header = response.get(QUERIES_HEADER)
            _check(header == (str(queries) if key == "b" else None), f"({key}) header {header}")
            lines = len(jsonl.read_bytes().splitlines()) if jsonl.exists() else 0
            _check(lines - before == (key == "c"), f"({key}) wrote {lines - before} lines")

        # -- timing ------------------------------------------------------------------
        # A round runs `per_round` requests of each variant, interleaved request
        # by request in an order rotated every time, so a burst of load on this
        # machine hits all of them alike; a variant's value in the round is
        # the fastest of its requests. Settings are switched by assignment, not
        # override_settings, so no signal runs between two timed requests
        # (perfaudit reads PERFAUDIT per request). GC collected before and off
        # during each round.
        load_before = os.getloadavg()[0]
        started = perf_counter()
        result = Result(*({key: [] for key in keys} for _ in range(4)))  # type: ignore[arg-type]
        for round_no in range(rounds[books] + 1):  # round 0 is the warm-up
            samples: list[dict[str, list[float]]] = [{key: [] for key in keys} for _ in range(4)]
            gc.collect()
            gc.disable()
            try:
                for i in range(per_round):
                    shift = (round_no * per_round + i) % len(keys)
                    for key in keys[shift:] + keys[:shift]:
                        _, base, options = variants[key]
                        settings.PERFAUDIT = options
                        request = factory.get(path)
                        c0, t0 = thread_time(), perf_counter()
                        response = base.get_response(request)
                        c1, t1 = thread_time(), perf_counter()
                        response.close()
                        c2, t2 = thread_time(), perf_counter()
                        for series, value in zip(
                            samples, (t1 - t0, t2 - t1, c1 - c0, c2 - c1), strict=True
                        ):
                            series[key].append(value * 1e6)
            finally:
                gc.enable()
                settings.PERFAUDIT = {}
            if round_no:
                fields = (result.own, result.after, result.own_cpu, result.after_cpu)
                for field, series in zip(fields, samples, strict=True):
                    for key in keys:
                        field[key].append(min(series[key]))
        result.seconds = perf_counter() - started
        result.load = (load_before, os.getloadavg()[0])
        results[books] = result
        _check(get_store().dropped_requests == 0, "a report was dropped while timing")

    # -- report ----------------------------------------------------------------------
    print(
        "perfaudit middleware benchmark: DRF ListAPIViews with nested authors (an N+1), "
        "SQLite file, persistent connection, DEBUG=False"
    )
    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
        f"DRF {rest_framework.VERSION}; {os.cpu_count()} CPUs. A round: {per_round} requests "
        "of each variant, interleaved, order rotated, the fastest of each counts; GC off "
        "during a round; 1 warm-up round discarded"
    )
    met = True
    targets: list[tuple[str, str, bool | None]] = []
    for books, result in results.items():
        print()
        print(
            f"{books + 1} queries/request ({books} books), {rounds[books]} rounds; load "
            f"average {result.load[0]:.2f} before, {result.load[1]:.2f} after; "
            f"{result.seconds:.0f} s"
        )
        print("  wall clock:")
        _table(result.own, result.after)
        print("  this thread's CPU time (time.thread_time(): not counting other processes):")
        _table(result.own_cpu, result.after_cpu)
        ratios = _ratios(result.own["a"], result.own["0"])
        ok = statistics.median(ratios) <= TARGETS[books]
        met &= ok
        what = f"(a) own time vs (0), {books + 1} queries: ≤ {TARGETS[books]:.2f}×"
        targets.append((what, _fmt(ratios, 3), ok))
        cpu = _ratios(result.own_cpu["a"], result.own_cpu["0"])
        targets.append((f"    (the same in CPU time, {books + 1} queries)", _fmt(cpu, 3), None))
    print()
    print("median (min–max) over rounds of the fastest request of each round; ratios and")
    print("differences are taken against (0) in the same round. own: get_response(), until")
    print("the response is returned to the server; after: response.close(), which the")
    print("server calls once it has sent the response (Django's request_finished signal")
    print("included, hence (0)'s share)")
    print()
    print("Targets")
    for what, figure, verdict_ok in targets:
        verdict = "" if verdict_ok is None else "MET" if verdict_ok else "NOT MET"
        print(f"  {what:<44}{figure:>26}  {verdict}")
    return met


def _table(own_times: dict[str, list[float]], after_times: dict[str, list[float]]) -> None:
    header = (
        f"{'':4}{'variant':<31}{'own µs':>24}{'own ratio vs (0)':>24}"
        f"{'after µs':>20}{'after − (0) µs':>22}"
    )
    print(header)
    print("-" * len(header))
    base_own, base_after = own_times["0"], after_times["0"]
    for key in own_times:
        label = {
            "0": "no middleware",
            "a": "PerfAuditMiddleware, defaults",
            "b": "  + HEADERS",
            "c": "  + JSONL_PATH",
            "d": "SAMPLE_RATE=0 (not sampled)",
            "e": "(a) with CAPTURE_CALLSITES=False",
        }[key]
        own, after = own_times[key], after_times[key]
        cells = f"({key}) {label:<31}{_fmt(own, 0):>24}"
        if key == "0":
            cells += f"{'':>24}{_fmt(after, 0):>20}"
        else:
            extra = [a - b for a, b in zip(after, base_after, strict=True)]
            cells += f"{_fmt(_ratios(own, base_own), 3):>24}{_fmt(after, 0):>20}"
            cells += f"{_fmt(extra, 0):>22}"
        print(cells)
    print("-" * len(header))


def _ratios(values: list[float], base: list[float]) -> list[float]:
    return [v / b for v, b in zip(values, base, strict=True)]


def _fmt(values: list[float], digits: int) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


if __name__ == "__main__":
    main()

"""Per-request cost of PerfAuditMiddleware on a 15-query DRF list view.

Run from the repository root::

    .venv/bin/python benchmarks/bench_middleware.py [--rounds N] [--requests M]

Workload: a DRF ``ListAPIView`` over 14 books whose serializer nests each
book's author without ``select_related``: 1 + 14 = 15 queries per request (the
N+1 the detectors report). SQLite file in a temporary directory, ``DEBUG``
off, JSON renderer only, no authentication. Each request goes through
Django's ``BaseHandler.get_response()`` (URL resolution, the middleware chain,
the view, rendering) with a request built by ``RequestFactory``: what a WSGI
server adds on top is the same with or without perfaudit.

Variants, each its own handler with its own middleware chain:

(0) no middleware (the baseline);
(a) ``PerfAuditMiddleware`` with the default settings: record, detect, check
    budgets, log (the ``perfaudit`` logger at its default level, WARNING, as
    in a project that has not configured it), add to the in-process store;
(b) (a) + ``HEADERS`` + ``PAYLOAD_HASH``: Server-Timing/X-PerfAudit headers
    and the canonical payload hash;
(c) (a) + ``JSONL_PATH``: one JSON line per request appended to a file;
(d) ``SAMPLE_RATE=0``: the cost for a request that is not sampled.

Every round runs ``--requests`` requests of each variant, interleaved request
by request in an order rotated every time, with the garbage collector
collected before and disabled during the round; one warm-up round is
discarded. The value of a variant in a round is the median of its per-request
times; ratios and overheads are taken against (0) in the same round, then
summarised as median (min–max) over rounds. A second part times perfaudit's
own post-response work inside the middleware, and its parts on one recording.

Each variant is checked to do what it claims (15 queries recorded, headers
present, lines written, nothing stored when not sampled), so the benchmark
fails loudly instead of measuring nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import django
from django.conf import settings
from django.core.management import call_command

BOOKS = 14
QUERIES = BOOKS + 1
URL = "/books/"
VIEW = "books"
MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]

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


def build_view() -> None:
    """The DRF list view and its URL, plus the data it lists."""
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

    class BookList(generics.ListAPIView):  # type: ignore[type-arg]
        queryset = Book.objects.order_by("pk")  # no select_related: one query per author
        serializer_class = BookSerializer

    urlpatterns[:] = [path(URL.strip("/") + "/", BookList.as_view(), name=VIEW)]
    authors = Author.objects.bulk_create(
        Author(name=f"Author {i}", email=f"a{i}@example.com") for i in range(BOOKS)
    )
    Book.objects.bulk_create(
        Book(title=f"Book {i}", author=authors[i], price="9.99", pages=100 + i)
        for i in range(BOOKS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="rounds (default 40)")
    parser.add_argument(
        "--requests", type=int, default=20, help="requests per variant per round (default 20)"
    )
    args = parser.parse_args()
    _check(args.rounds >= 2 and args.requests >= 1, "use at least 2 rounds and 1 request")
    with tempfile.TemporaryDirectory(prefix="perfaudit-bench-") as directory:
        configure(directory)
        build_view()
        run(args.rounds, args.requests, Path(directory))


def run(rounds: int, requests: int, directory: Path) -> None:
    import rest_framework
    from django.core.handlers.base import BaseHandler
    from django.http import HttpResponseBase
    from django.test import RequestFactory
    from django.test.utils import override_settings

    import perfaudit
    from perfaudit.web.middleware import PAYLOAD_HEADER, QUERIES_HEADER
    from perfaudit.web.store import get_store

    factory = RequestFactory()
    jsonl = directory / "requests.jsonl"

    def handler(middleware: list[str]) -> Callable[[], HttpResponseBase]:
        with override_settings(MIDDLEWARE=middleware):
            base = BaseHandler()
            base.load_middleware()
        return lambda: base.get_response(factory.get(URL))

    plain, audited = handler([]), handler(MIDDLEWARE)
    variants: dict[str, tuple[str, Callable[[], HttpResponseBase], dict[str, Any]]] = {
        "0": ("no middleware", plain, {}),
        "a": ("PerfAuditMiddleware, defaults", audited, {}),
        "b": ("  + HEADERS + PAYLOAD_HASH", audited, {"HEADERS": True, "PAYLOAD_HASH": True}),
        "c": ("  + JSONL_PATH", audited, {"JSONL_PATH": str(jsonl)}),
        "d": ("SAMPLE_RATE=0 (not sampled)", audited, {"SAMPLE_RATE": 0}),
    }

    # -- checks: each variant does what it claims ---------------------------------
    with perfaudit.record() as rec:
        body = plain().content  # type: ignore[attr-defined]
    _check(len(rec) == QUERIES, f"the view ran {len(rec)} queries, not {QUERIES}")
    for key, (_, call, options) in variants.items():
        get_store().clear()
        lines_before = len(jsonl.read_bytes().splitlines()) if jsonl.exists() else 0
        with override_settings(PERFAUDIT=options):
            response = call()
        _check(response.content == body, f"({key}) changed the response body")  # type: ignore[attr-defined]
        stats = get_store().get(VIEW)
        if key in "abc":
            _check(stats is not None and stats.queries_max == QUERIES, f"({key}) stored {stats}")
        else:
            _check(stats is None, f"({key}) stored a request it should not have")
        _check(
            (QUERIES_HEADER in response) == (key == "b"),
            f"({key}) headers: {dict(response.headers)}",
        )
        _check((PAYLOAD_HEADER in response) == (key == "b"), f"({key}) payload header")
        lines = len(jsonl.read_bytes().splitlines()) if jsonl.exists() else 0
        _check(lines - lines_before == (key == "c"), f"({key}) wrote {lines - lines_before} lines")

    # -- timing ----------------------------------------------------------------------
    # Variants alternate request by request (order rotated each time), so a
    # burst of load on this machine hits all of them alike. Settings are
    # switched by assignment, not override_settings, so no signal runs between
    # two timed requests (perfaudit re-reads PERFAUDIT on every request).
    load_before = os.getloadavg()[0]
    started = perf_counter()
    keys = list(variants)
    per_request: dict[str, list[float]] = {key: [] for key in keys}
    for round_no in range(rounds + 1):  # round 0 is the warm-up
        times: dict[str, list[float]] = {key: [] for key in keys}
        gc.collect()
        gc.disable()
        try:
            for i in range(requests):
                shift = (round_no * requests + i) % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    _, call, options = variants[key]
                    settings.PERFAUDIT = options
                    t0 = perf_counter()
                    call()
                    times[key].append(perf_counter() - t0)
        finally:
            gc.enable()
            settings.PERFAUDIT = {}
        if round_no:
            for key in keys:
                per_request[key].append(statistics.median(times[key]) * 1e6)
    seconds = perf_counter() - started
    load_after = os.getloadavg()[0]

    # -- where the time goes ----------------------------------------------------------
    in_situ = _in_situ(variants, samples=20 * requests)
    steps = _steps(plain)

    # -- report ------------------------------------------------------------------------
    base = per_request["0"]
    print(
        f"perfaudit middleware benchmark: DRF ListAPIView, {BOOKS} books with nested authors "
        f"({QUERIES} queries/request), SQLite file, DEBUG=False"
    )
    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
        f"DRF {rest_framework.VERSION}; {rounds} rounds x {requests} requests per variant, "
        "interleaved request by request, order rotated, 1 warm-up round discarded, "
        "GC off while timing"
    )
    print(
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after; {seconds:.0f} s"
    )
    print()
    header = f"{'':4}{'variant':<32}{'µs/request':>26}{'ratio vs (0)':>26}{'overhead µs':>26}"
    print(header)
    print("-" * len(header))
    for key, (label, _, _) in variants.items():
        values = per_request[key]
        if key == "0":
            print(f"({key}) {label:<32}{_fmt(values, 1):>26}")
            continue
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        overhead = [v - b for v, b in zip(values, base, strict=True)]
        cells = f"{_fmt(values, 1):>26}{_fmt(ratios, 3):>26}{_fmt(overhead, 1):>26}"
        print(f"({key}) {label:<32}{cells}")
    print("-" * len(header))
    print("median (min–max) over rounds; a round's value is the median of its requests;")
    print("ratio and overhead are taken against (0) in the same round")
    print()
    print("perfaudit's own work after the response, timed inside the middleware")
    print(f"(median (min–max) of {20 * requests} requests):")
    for label, values in in_situ:
        print(f"  {label:<48}{_fmt(values, 1):>24} µs")
    print("Its parts, on one 15-query recording (median of 2,000 runs):")
    for label, microseconds in steps:
        print(f"  {label:<48}{microseconds:>8.1f} µs")


def _in_situ(
    variants: dict[str, tuple[str, Callable[[], Any], dict[str, Any]]], samples: int
) -> list[tuple[str, list[float]]]:
    """Time ``perfaudit.web.middleware._report`` (detect, budget, store, log, extras) in place."""
    from perfaudit.web import middleware

    original = middleware._report
    spent: list[float] = []

    def timed(*args: Any) -> Any:
        t0 = perf_counter()
        try:
            return original(*args)
        finally:
            spent.append((perf_counter() - t0) * 1e6)

    middleware._report = timed  # type: ignore[assignment]
    results = []
    try:
        for key in "abc":
            label, call, options = variants[key]
            settings.PERFAUDIT = options
            spent.clear()
            for _ in range(samples):
                call()
            results.append((f"({key}) {label.strip()}", list(spent)))
    finally:
        middleware._report = original
        settings.PERFAUDIT = {}
    return results


def _steps(plain: Callable[[], Any]) -> list[tuple[str, float]]:
    from django.test import RequestFactory

    from perfaudit import capture, detect
    from perfaudit.detect.budgets import check_budget
    from perfaudit.web.store import Store, summarise

    with capture.record() as rec:
        plain()
    request = RequestFactory().get(URL)
    store = Store()
    findings = detect.run(rec)

    def fresh_recording() -> Any:
        # A new Recording each time: the detectors' per-recording analysis is
        # redone, as for a new request (SQL parsing stays cached, as it is there).
        return capture.Recording(rec.queries, duration=rec.duration)

    def record_block() -> None:
        with capture.record():
            pass

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("enter + leave perfaudit.record()", record_block),
        ("detect.run(recording)", lambda: detect.run(fresh_recording())),
        ("check_budget(view, recording)", lambda: check_budget(VIEW, rec)),
        (
            "summarise(recording, ...)",
            lambda: summarise(
                rec, view=VIEW, method="GET", path=request.path, status=200, findings=findings
            ),
        ),
        (
            "Store.add(record)",
            lambda: store.add(
                summarise(rec, view=VIEW, method="GET", path="/", status=200, findings=findings)
            ),
        ),
    ]
    results = []
    for label, case in cases:
        samples = []
        for _ in range(2_000):
            t0 = perf_counter()
            case()
            samples.append(perf_counter() - t0)
        results.append((label, statistics.median(samples) * 1e6))
    # Store.add was timed together with summarise: report its own share.
    results[-1] = ("Store.add(record)", max(0.0, results[-1][1] - results[-2][1]))
    return results


def _fmt(values: list[float], digits: int) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


if __name__ == "__main__":
    main()

"""perfaudit.web.store: request summaries, per-view aggregates, sampling, the JSONL sink."""

from __future__ import annotations

import datetime
import decimal
import logging
import os
import stat
import threading
import uuid
from pathlib import Path

import orjson
import pytest
from django.test import override_settings

import perfaudit
from perfaudit.capture import QueryEvent, Recording
from perfaudit.detect import Finding
from perfaudit.detect.budgets import Violation
from perfaudit.web.store import (
    FORMAT_VERSION,
    RequestRecord,
    ShapeSummary,
    Store,
    get_store,
    jsonl_line,
    percentile,
    sampled,
    summarise,
    write_jsonl,
)
from tests.factories import AuthorFactory
from tests.testapp.models import Author


def _record(
    view: str = "v", queries: int = 1, db_ms: float = 1.0, **kwargs: object
) -> RequestRecord:
    return RequestRecord(
        view=view,
        method="GET",
        path=f"/{view}/",
        status=200,
        queries=queries,
        db_ms=db_ms,
        total_ms=db_ms * 2,
        **kwargs,  # type: ignore[arg-type]
    )


def _finding(kind: str = "n_plus_one", fingerprint: str = "SELECT ?") -> Finding:
    return Finding(kind, "high", fingerprint, 3, 0.003, None, "SELECT %s", "do less")


# -- sampling and percentiles -------------------------------------------------------


def test_sampled_records_everything_with_debug_or_a_rate_of_one() -> None:
    def never(_: None = None) -> float:
        raise AssertionError("no draw needed")

    assert sampled(debug=True, rate=0.0, draw=never)
    assert sampled(debug=False, rate=1.0, draw=never)
    assert not sampled(debug=False, rate=0.0, draw=never)


def test_sampled_draws_against_the_rate() -> None:
    assert sampled(debug=False, rate=0.25, draw=lambda: 0.2)
    assert not sampled(debug=False, rate=0.25, draw=lambda: 0.25)
    assert not sampled(debug=False, rate=0.25, draw=lambda: 0.9)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7], 0.95) == 7
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50, 95)
    assert percentile([3, 1, 2], 0.5) == 2  # order does not matter


# -- summarise ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_summarise_groups_queries_by_shape_with_counts_and_call_sites() -> None:
    authors = AuthorFactory.create_batch(3)
    with perfaudit.record() as rec:
        for author in authors:
            Author.objects.filter(pk=author.pk).first()  # summary-marker
        Author.objects.count()

    record = summarise(rec, view="authors", method="GET", path="/authors/", status=200)

    assert record.queries == 4
    assert record.db_ms == pytest.approx(rec.db_time * 1000)
    assert record.total_ms == pytest.approx(rec.duration * 1000)  # type: ignore[operator]
    by_count = {shape.count: shape for shape in record.shapes}
    lookup, count = by_count[3], by_count[1]
    assert lookup.fingerprint == perfaudit.fingerprint(lookup.sql)
    assert lookup.kind == "select"
    assert lookup.alias == "default"
    assert lookup.db_ms >= lookup.max_ms > 0
    ((site, n),) = lookup.callsites
    assert n == 3
    assert site.startswith("tests/test_store.py:")
    assert site.endswith("in test_summarise_groups_queries_by_shape_with_counts_and_call_sites")
    assert lookup.params is None  # not asked for
    assert lookup.param_count == 1  # the pk (Django inlines LIMIT 1)
    assert "COUNT(*)" in count.sql
    # Most expensive first.
    assert [s.db_ms for s in record.shapes] == sorted(
        (s.db_ms for s in record.shapes), reverse=True
    )


@pytest.mark.django_db
def test_summarise_keeps_the_slowest_executions_params_only_when_asked() -> None:
    slow = QueryEvent("SELECT * FROM t WHERE id = %s", [2], duration=0.004)
    fast = QueryEvent("SELECT * FROM t WHERE id = %s", [1], duration=0.001)
    rec = Recording([fast, slow])

    kept = summarise(rec, view="v", method="GET", path="/", status=200, keep_params=True)
    (shape,) = kept.shapes
    assert (shape.params, shape.max_ms, shape.count) == ([2], pytest.approx(4.0), 2)
    (shape,) = summarise(rec, view="v", method="GET", path="/", status=200).shapes
    assert shape.params is None


def test_params_are_made_json_ready() -> None:
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=7)
    params = [when, decimal.Decimal("1.50"), ident, b"\x01\xff", None, True, "x"]
    rec = Recording([QueryEvent("SELECT %s", params)])

    (shape,) = summarise(
        rec, view="v", method="GET", path="/", status=200, keep_params=True
    ).shapes

    assert shape.params == [
        "2024-05-01T12:30:00+00:00",
        "1.50",
        str(ident),
        "\\x01ff",
        None,
        True,
        "x",
    ]


# -- RequestRecord and JSONL ----------------------------------------------------------------


def test_jsonl_line_holds_what_report_needs_and_no_params_unless_asked() -> None:
    shape = ShapeSummary(
        "SELECT ?", "select", "default", 3, 1.5, 0.9, (("app.py:3 in f", 3),), "SELECT %s", [42], 1
    )
    violation = Violation("v", "v", "queries", 2, 3)
    record = _record(queries=3, shapes=(shape,), findings=(_finding(),), violations=(violation,))

    line = jsonl_line(record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    data = orjson.loads(line)
    assert data["v"] == FORMAT_VERSION
    assert {"view", "method", "path", "status", "queries", "db_ms", "total_ms"} <= set(data)
    assert data["shapes"] == [
        {
            "fingerprint": "SELECT ?",
            "kind": "select",
            "alias": "default",
            "count": 3,
            "db_ms": 1.5,
            "max_ms": 0.9,
            "callsites": {"app.py:3 in f": 3},
            "sql": "SELECT %s",
            "param_count": 1,
        }
    ]
    assert data["findings"] == [_finding().to_dict()]
    assert data["violations"] == [{"metric": "queries", "limit": 2, "actual": 3, "pattern": "v"}]
    assert orjson.loads(jsonl_line(record, params=True))["shapes"][0]["params"] == [42]


def test_write_jsonl_appends_one_line_per_record_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    assert write_jsonl(path, _record("a"), params=False)
    assert write_jsonl(path, _record("b"), params=False)

    views = [orjson.loads(line)["view"] for line in path.read_bytes().splitlines()]
    assert views == ["a", "b"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_write_jsonl_failure_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing-directory" / "requests.jsonl"
    with caplog.at_level(logging.WARNING, logger="perfaudit"):
        assert not write_jsonl(path, _record(), params=False)
        assert not write_jsonl(path, _record(), params=False)

    (warning,) = caplog.records
    assert "cannot append to PERFAUDIT['JSONL_PATH']" in warning.getMessage()
    assert str(path) in warning.getMessage()


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    big = tuple(
        ShapeSummary(f"SELECT {i}", "select", "default", 1, 0.1, 0.1, (), "x" * 2000)
        for i in range(20)
    )

    def write(view: str) -> None:
        for _ in range(50):
            write_jsonl(path, _record(view, shapes=big), params=False)

    threads = [threading.Thread(target=write, args=(f"v{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = path.read_bytes().splitlines()
    assert len(lines) == 400
    assert all(len(orjson.loads(line)["shapes"]) == 20 for line in lines)


# -- the store -------------------------------------------------------------------------------


def test_store_aggregates_per_view() -> None:
    store = Store(max_views=10)
    for queries in (1, 2, 3, 4, 100):
        store.add(_record("list", queries=queries, db_ms=float(queries)))
    store.add(_record("list", queries=5, findings=(_finding(), _finding("slow"))))
    store.add(_record("list", queries=5, findings=(_finding(),)))
    store.add(_record("detail", violations=(Violation("detail", "*", "queries", 0, 1),)))

    stats = store.get("list")
    assert stats is not None
    assert stats.requests == 7
    assert (stats.queries_p50, stats.queries_p95, stats.queries_max) == (4, 100, 100)
    assert stats.db_ms_total == pytest.approx(1 + 2 + 3 + 4 + 100 + 1 + 1)
    assert stats.db_ms_max == 100.0
    assert stats.findings == {("n_plus_one", "SELECT ?"): 2, ("slow", "SELECT ?"): 1}
    detail = store.get("detail")
    assert detail is not None
    assert detail.violations == {"queries": 1}
    assert [s.view for s in store.snapshot()] == ["list", "detail"]  # most DB time first
    assert store.get("nope") is None


def test_store_drops_the_least_recently_seen_view() -> None:
    store = Store(max_views=2)
    store.add(_record("a"))
    store.add(_record("b"))
    store.add(_record("a"))  # a is now more recent than b
    store.add(_record("c"))

    assert "b" not in store
    assert {"a", "c"} <= {s.view for s in store.snapshot()}
    assert len(store) == 2
    assert store.dropped_views == 1


def test_store_max_views_follows_the_setting() -> None:
    store = Store()
    with override_settings(PERFAUDIT={"STORE_MAX_VIEWS": 3}):
        for view in "abcdef":
            store.add(_record(view))
    assert [s.view for s in sorted(store.snapshot(), key=lambda s: s.view)] == ["d", "e", "f"]


def test_percentiles_cover_a_bounded_window_maxima_everything() -> None:
    store = Store(window=4)
    for queries in (50, 1, 1, 1, 1):
        store.add(_record("v", queries=queries))

    stats = store.get("v")
    assert stats is not None
    assert (stats.queries_p95, stats.queries_max, stats.requests) == (1, 50, 5)


def test_findings_per_view_are_bounded() -> None:
    store = Store()
    for i in range(150):
        store.add(_record("v", findings=(_finding(fingerprint=f"SELECT {i}"),)))

    stats = store.get("v")
    assert stats is not None
    assert len(stats.findings) == 100
    assert stats.findings_dropped == 50


def test_store_is_thread_safe() -> None:
    store = Store(max_views=5)

    def add(view: str) -> None:
        for _ in range(500):
            store.add(_record(view, queries=2))

    threads = [threading.Thread(target=add, args=(f"v{i % 4}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(s.requests for s in store.snapshot()) == 4000
    assert all(s.requests == 1000 for s in store.snapshot())


def test_the_process_store_is_one_object() -> None:
    assert get_store() is get_store()
    get_store().clear()
    assert len(get_store()) == 0

"""Duplicates, COUNT over DISTINCT, forced GROUP BY, slow queries, and run()."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Exists, OuterRef
from django.test import override_settings

import perfaudit
from perfaudit.capture import QueryEvent, Recording
from perfaudit.detect import DETECTORS, run
from tests.factories import AuthorFactory, BookFactory, ReviewFactory, TagFactory
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def _record(action: Callable[[], Any], **options: Any) -> Recording:
    with perfaudit.record(**options) as rec:
        action()
    return rec


def _kinds(rec: Recording) -> list[str]:
    return [f.kind for f in run(rec)]


@pytest.fixture
def library() -> list[Book]:
    tags = TagFactory.create_batch(4)
    books = []
    for i in range(12):
        book = BookFactory()
        book.tags.set(tags[: i % 4 + 1])
        ReviewFactory.create_batch(i % 3 + 1, book=book)
        books.append(book)
    return books


# -- duplicates ---------------------------------------------------------------


def test_identical_reads_are_duplicates() -> None:
    author = AuthorFactory()

    def twice() -> None:
        Author.objects.get(pk=author.pk)  # first-marker
        Author.objects.get(pk=author.pk)  # second-marker

    (finding,) = run(_record(twice))
    assert finding.kind == "duplicate"
    assert finding.count == 2
    assert finding.model == "testapp.Author"
    assert len(finding.callsites) == 2
    assert "ran 2 times" in finding.suggestion
    assert "test_detect.py:" in finding.suggestion

    def once() -> None:
        found = Author.objects.get(pk=author.pk)
        assert found.name == author.name

    assert run(_record(once)) == []


def test_same_sql_with_different_params_is_not_a_duplicate() -> None:
    a, b = AuthorFactory.create_batch(2)

    def two() -> None:
        Author.objects.get(pk=a.pk)
        Author.objects.get(pk=b.pk)

    assert run(_record(two)) == []


def test_duplicates_need_captured_params() -> None:
    author = AuthorFactory()
    rec = _record(lambda: [Author.objects.get(pk=author.pk) for _ in range(3)], params=False)
    assert "duplicate" not in _kinds(rec)


# -- COUNT over DISTINCT ------------------------------------------------------


def test_distinct_count_over_a_join(library: list[Book]) -> None:
    qs = Book.objects.filter(tags__name__in=["tag-0", "tag-1", "tag-2"]).distinct()
    rec = _record(qs.count)
    (finding,) = run(rec)
    assert finding.kind == "count_distinct"
    assert finding.severity == "high"
    assert finding.model == "testapp.Book"
    assert "`SELECT DISTINCT`" in finding.suggestion
    assert "testapp_book_tags" in finding.suggestion
    assert 'Exists(Book.tags.through.objects.filter(book=OuterRef("pk"), ...))' in (
        finding.suggestion
    )
    assert finding.share == pytest.approx(1.0)

    through = Book.tags.through.objects.filter(
        book=OuterRef("pk"), tag__name__in=["tag-0", "tag-1", "tag-2"]
    )
    fixed = Book.objects.filter(Exists(through))
    assert _record(fixed.count).queries[0].shape.count_over_distinct is False
    assert run(_record(fixed.count)) == []
    assert fixed.count() == qs.count()
    assert run(_record(qs.values("pk").distinct().count)) == []


def test_paginator_count_is_caught(library: list[Book]) -> None:
    qs = Book.objects.filter(tags__name__startswith="tag").distinct().order_by("id")
    rec = _record(lambda: list(Paginator(qs, 10).page(1)))
    assert _kinds(rec) == ["count_distinct"]


def test_count_distinct_aggregate_over_a_join(library: list[Book]) -> None:
    rec = _record(lambda: Book.objects.aggregate(n=Count("tags", distinct=True)))
    (finding,) = run(rec)
    assert finding.kind == "count_distinct"
    assert "`COUNT(DISTINCT …)`" in finding.suggestion


def test_distinct_count_without_a_join_is_milder() -> None:
    AuthorFactory.create_batch(3)
    (finding,) = run(_record(Author.objects.distinct().count))
    assert finding.kind == "count_distinct"
    assert finding.severity == "medium"
    assert "Nothing here is joined" in finding.suggestion


# -- slow ---------------------------------------------------------------------

_SLOW_SQL = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
    "SELECT COUNT(*) FROM c"
)
if connection.vendor == "mysql":
    # MariaDB stops a recursive CTE after max_recursive_iterations (1,000) and
    # MySQL raises past cte_max_recursion_depth: sleep instead.
    _SLOW_SQL = "SELECT SLEEP(0.05)"


def test_slow_query_over_the_threshold() -> None:
    def slow_and_fast() -> None:
        with connection.cursor() as cursor:
            cursor.execute(_SLOW_SQL)
            cursor.execute(_SLOW_SQL)
            cursor.execute("SELECT 1")

    rec = _record(slow_and_fast)
    fastest, slowest = sorted(q.duration for q in rec.queries[:2])
    with override_settings(PERFAUDIT={"SLOW_QUERY_MS": fastest * 1000 / 2}):
        findings = run(rec)
    assert [f.kind for f in findings] == ["slow"]
    assert findings[0].sql == _SLOW_SQL
    assert "QuerySet.explain()" in findings[0].suggestion
    with override_settings(PERFAUDIT={"SLOW_QUERY_MS": slowest * 1000 * 2}):
        assert run(rec) == []


def test_transaction_control_is_never_a_finding() -> None:
    rec = Recording(
        [QueryEvent("COMMIT", duration=5.0)] * 3
        + [QueryEvent('SAVEPOINT "s1_x1"', duration=2.0, params=())] * 3
    )
    assert run(rec) == []


# -- run() --------------------------------------------------------------------


def test_findings_are_ordered_most_expensive_first() -> None:
    rec = Recording(
        [QueryEvent("SELECT * FROM p", params=())]  # the rows the loops go over
        + [
            QueryEvent("SELECT * FROM t WHERE t.id = %s", params=(i,), duration=0.001)
            for i in range(4)
        ]
        + [
            QueryEvent("SELECT * FROM u WHERE u.id = %s", params=(i,), duration=0.01)
            for i in range(3)
        ]
        + [QueryEvent("SELECT * FROM v WHERE v.x = %s", params=(1,), duration=0.05)] * 2
    )
    findings = run(rec)
    assert [(f.kind, f.table) for f in findings] == [
        ("duplicate", "v"),
        ("n_plus_one", "u"),
        ("n_plus_one", "t"),
    ]
    assert findings[0].share == pytest.approx(0.1 / 0.134)
    assert run(rec, kinds=["duplicate"])[0].kind == "duplicate"
    assert [f.table for f in run(rec, kinds=["n_plus_one"])] == ["u", "t"]


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="Unknown finding kinds"):
        run(Recording(), kinds=["n_plus_two"])


def test_a_failing_detector_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(analysis: object) -> list[Any]:
        raise RuntimeError("detector bug")

    monkeypatch.setitem(DETECTORS, "slow", broken)
    rec = Recording([QueryEvent("SELECT * FROM v WHERE v.x = %s", params=(1,))] * 2)
    with caplog.at_level(logging.ERROR, logger="perfaudit"):
        findings = run(rec)
    assert [f.kind for f in findings] == ["duplicate"]
    assert "slow detector failed" in caplog.text


def test_to_dict_is_json_ready_and_has_no_parameter_values(library: list[Book]) -> None:
    secret = "s3cr3t-title"
    Book.objects.filter(pk=library[0].pk).update(title=secret)
    rec = _record(lambda: [Book.objects.filter(title=secret).first() for _ in range(2)])
    (finding,) = run(rec)
    payload = orjson.dumps(finding.to_dict())
    assert secret.encode() not in payload
    data = orjson.loads(payload)
    assert data["kind"] == "duplicate"
    assert data["callsite"]["file"].endswith("test_detect.py")
    assert set(data) >= {"fingerprint", "count", "total_ms", "suggestion", "fix", "share"}

"""Duplicates, COUNT over DISTINCT, forced GROUP BY, slow queries, and run()."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Avg, Count, Exists, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.test import override_settings

import perfaudit
from perfaudit.capture import QueryEvent, Recording
from perfaudit.detect import DETECTORS, run
from tests.factories import AuthorFactory, BookFactory, ReviewFactory, TagFactory
from tests.testapp.models import Author, Book, Review

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


# -- forced GROUP BY ----------------------------------------------------------


def _apply(queryset: Any, fix: str) -> Any:
    """``queryset.<fix>``: the suggested fix, run as written."""
    namespace = {
        "qs": queryset,
        "Avg": Avg,
        "Book": Book,
        "Coalesce": Coalesce,
        "Count": Count,
        "OuterRef": OuterRef,
        "Review": Review,
        "Subquery": Subquery,
        "Sum": Sum,
    }
    return eval(f"qs.{fix}", namespace)


def test_aggregate_annotation_on_a_paginated_list(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("reviews")).order_by("id")
    (finding,) = run(_record(lambda: list(qs[:10])))
    assert finding.kind == "forced_group_by"
    assert finding.model == "testapp.Book"
    assert "paginated list of `Book`" in finding.suggestion
    assert "COUNT(testapp_review.id)" in finding.suggestion
    assert finding.fix == (
        'annotate(n=Coalesce(Subquery(Review.objects.filter(book=OuterRef("pk")).order_by()'
        '.values("book").annotate(n=Count("pk")).values("n")), 0))'
    )
    assert finding.fix in finding.suggestion

    fixed = _apply(Book.objects.order_by("id"), finding.fix)
    assert run(_record(lambda: list(fixed[:10]))) == []
    assert [(b.pk, b.n) for b in qs[:10]] == [(b.pk, b.n) for b in fixed[:10]]


def test_every_aggregate_is_rewritten(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("reviews"), avg=Avg("reviews__rating")).order_by("id")
    (finding,) = run(_record(lambda: list(qs[:3])))
    assert finding.fix is not None
    assert finding.fix.count("Subquery(") == 2
    fixed = _apply(Book.objects.order_by("id"), finding.fix)
    assert run(_record(lambda: list(fixed[:3]))) == []
    assert [(b.n, b.avg) for b in qs[:3]] == [(b.n, b.avg) for b in fixed[:3]]


def test_many_to_many_join_table_is_named_through_its_field(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("tags")).order_by("id")
    (finding,) = run(_record(lambda: list(qs[:3])))
    assert finding.fix is not None
    assert "Book.tags.through.objects.filter(book=" in finding.fix
    fixed = _apply(Book.objects.order_by("id"), finding.fix)
    assert [b.n for b in qs[:3]] == [b.n for b in fixed[:3]]


def test_a_filtered_join_gets_no_rewrite(library: list[Book]) -> None:
    qs = Book.objects.filter(reviews__rating__gte=3).annotate(n=Count("reviews")).order_by("id")
    (finding,) = run(_record(lambda: list(qs[:3])))
    assert finding.kind == "forced_group_by"
    assert finding.fix is None
    assert "repeat that filter" in finding.suggestion


def test_multiplying_joins_get_no_rewrite(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("reviews"), t=Count("tags")).order_by("id")
    (finding,) = run(_record(lambda: list(qs)))
    assert finding.fix is None
    assert "multiply each other's rows" in finding.suggestion


def test_one_join_on_a_whole_list_is_not_reported(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("reviews")).order_by("id")
    assert run(_record(lambda: list(qs))) == []


def test_distinct_count_annotation_is_grouped_too(library: list[Book]) -> None:
    qs = Book.objects.annotate(n=Count("reviews__rating", distinct=True)).order_by("id")
    (finding,) = run(_record(lambda: list(qs)))
    assert finding.kind == "forced_group_by"
    assert "COUNT(DISTINCT testapp_review.rating)" in finding.suggestion
    assert 'Count("rating", distinct=True)' in (finding.fix or "")


def test_report_grouped_by_another_column_is_not_flagged(library: list[Book]) -> None:
    rec = _record(lambda: list(Book.objects.values("author").annotate(n=Count("id"))))
    assert run(rec) == []


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


def test_slow_needs_a_shape_that_is_slow_repeatedly() -> None:
    sql = 'SELECT "a"."id" FROM "a" WHERE "a"."x" = %s'
    outlier = Recording([QueryEvent(sql, (i,), 0.001 if i else 0.2) for i in range(9)])
    assert run(outlier, kinds=["slow"]) == []
    twice = Recording([QueryEvent(sql, (i,), 0.2 if i < 2 else 0.001) for i in range(9)])
    (finding,) = run(twice, kinds=["slow"])
    assert finding.count == 2
    assert "index" in finding.suggestion


def test_slow_write_gets_no_index_advice() -> None:
    sql = 'INSERT INTO "a" ("x") VALUES (%s)'
    assert run(Recording([QueryEvent(sql, (1,), 0.3)]), kinds=["slow"]) == []  # once: noise
    (finding,) = run(Recording([QueryEvent(sql, (1,), 0.3)] * 2), kinds=["slow"])
    assert "explain()" not in finding.suggestion
    assert "lock waits" in finding.suggestion

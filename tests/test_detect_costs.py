"""Forced GROUP BY and slow queries: reported only where they cost, with rewrites
that compute the same numbers (each rewrite is run as written and compared)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Avg, Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

import perfaudit
from perfaudit.capture import QueryEvent, Recording
from perfaudit.detect import run
from tests.factories import BookFactory, ReviewFactory, TagFactory
from tests.testapp.models import Book, Review

pytestmark = pytest.mark.django_db


def _record(action: Callable[[], Any]) -> Recording:
    with perfaudit.record() as rec:
        action()
    return rec


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

"""N+1 detection on real querysets, each positive case paired with its fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests.factories import (
    AuthorFactory,
    AuthorProfileFactory,
    BookFactory,
    ReviewFactory,
    TagFactory,
)
from tests.helpers import line_of
from tests.testapp import serializers
from tests.testapp.models import Author, AuthorProfile, Book, Review, Tag

pytestmark = pytest.mark.django_db


def _record(action: Callable[[], Any]) -> Recording:
    with perfaudit.record() as rec:
        action()
    return rec


def _only_n_plus_one(rec: Recording) -> Finding:
    findings = run(rec)
    assert [f.kind for f in findings] == ["n_plus_one"], [f.suggestion for f in findings]
    return findings[0]


@pytest.fixture
def books() -> list[Book]:
    tags = TagFactory.create_batch(3)
    created = []
    for i in range(5):
        book = BookFactory()
        book.tags.set(tags[: i % 3 + 1])
        ReviewFactory.create_batch(2, book=book)
        created.append(book)
    return created


def test_loop_over_forward_fk(books: list[Book]) -> None:
    def loop() -> None:
        for book in Book.objects.order_by("id"):  # books-evaluated-marker
            book.author.name  # noqa: B018  fk-loop-marker

    finding = _only_n_plus_one(_record(loop))
    line = line_of(__file__, "fk-loop-marker")
    assert finding.count == 5
    assert finding.relation == "Book.author"
    assert finding.fix == 'select_related("author")'
    assert finding.model == "testapp.Author"
    assert finding.callsite is not None
    assert finding.callsite.lineno == line
    assert "`Book.author` is loaded one row at a time" in finding.suggestion
    assert f"test_detect_n_plus_one.py:{line}" in finding.suggestion
    assert 'add `select_related("author")`' in finding.suggestion
    evaluated = line_of(__file__, "books-evaluated-marker")
    assert f"evaluated at tests/test_detect_n_plus_one.py:{evaluated}" in finding.suggestion

    def fixed() -> None:
        for book in Book.objects.select_related("author").order_by("id"):
            book.author.name  # noqa: B018

    rec = _record(fixed)
    assert len(rec) == 1
    assert run(rec) == []


def test_drf_nested_serializer(books: list[Book]) -> None:
    finding = _only_n_plus_one(
        _record(lambda: serializers.BookSerializer(Book.objects.all(), many=True).data)
    )
    assert finding.relation == "Book.author"
    assert finding.count == 5
    assert 'select_related("author")' in finding.suggestion
    assert "5 queries from `BookSerializer.author` at tests/test_detect_n_plus_one.py:" in (
        finding.suggestion
    )

    qs = Book.objects.select_related("author")
    assert run(_record(lambda: serializers.BookSerializer(qs, many=True).data)) == []


def test_serializer_method_field_counting_per_row(books: list[Book]) -> None:
    rec = _record(
        lambda: serializers.BookReviewCountSerializer(Book.objects.all(), many=True).data
    )
    finding = _only_n_plus_one(rec)
    assert finding.relation == "Book.reviews"
    assert finding.fix == (
        'annotate(reviews_count=Coalesce(Subquery(Review.objects.filter(book=OuterRef("pk"))'
        '.order_by().values("book").annotate(n=Count("pk")).values("n")), 0))'
    )
    assert finding.callsite is not None
    assert finding.callsite.filename == serializers.__file__
    assert finding.callsite.lineno == line_of(serializers.__file__, "review-count-marker")
    assert "`Book.reviews` is counted one row at a time" in finding.suggestion
    assert "serializers.py:" in finding.suggestion
    assert 'Subquery(Review.objects.filter(book=OuterRef("pk"))' in finding.suggestion

    counts = (
        Review.objects.filter(book=OuterRef("pk"))
        .order_by()
        .values("book")
        .annotate(n=Count("pk"))
        .values("n")
    )
    fixed = Book.objects.annotate(annotated_review_count=Subquery(counts))
    rec = _record(lambda: serializers.BookReviewCountSerializer(fixed, many=True).data)
    assert len(rec) == 1
    assert run(rec) == []


def test_property_that_queries(books: list[Book]) -> None:
    finding = _only_n_plus_one(_record(lambda: [b.author_name for b in Book.objects.all()]))
    assert finding.relation == "Book.author"
    assert finding.callsite is not None
    assert finding.callsite.function == "Book.author_name"
    assert "models.py:" in finding.suggestion

    qs = Book.objects.select_related("author")
    assert run(_record(lambda: [b.author_name for b in qs])) == []


def test_m2m_all_per_row(books: list[Book]) -> None:
    def loop() -> None:
        for book in Book.objects.all():
            [tag.name for tag in book.tags.all()]

    finding = _only_n_plus_one(_record(loop))
    assert finding.relation == "Book.tags"
    assert finding.fix == 'prefetch_related("tags")'
    assert "`Book.tags` is loaded one row at a time" in finding.suggestion

    def fixed() -> None:
        for book in Book.objects.prefetch_related("tags"):
            [tag.name for tag in book.tags.all()]

    rec = _record(fixed)
    assert len(rec) == 2
    assert run(rec) == []

    nested = _record(
        lambda: serializers.BookWithTagsSerializer(Book.objects.all(), many=True).data
    )
    assert _only_n_plus_one(nested).relation == "Book.tags"


def test_reverse_m2m_and_reverse_fk(books: list[Book]) -> None:
    tags = _record(lambda: [list(tag.books.all()) for tag in Tag.objects.all()])
    assert _only_n_plus_one(tags).relation == "Tag.books"
    assert (
        run(_record(lambda: [list(t.books.all()) for t in Tag.objects.prefetch_related("books")]))
        == []
    )

    reviews = _record(lambda: [list(book.reviews.all()) for book in Book.objects.all()])
    finding = _only_n_plus_one(reviews)
    assert finding.relation == "Book.reviews"
    assert finding.fix == 'prefetch_related("reviews")'


def test_reverse_one_to_one() -> None:
    AuthorProfileFactory.create_batch(4)
    finding = _only_n_plus_one(_record(lambda: [a.profile.bio for a in Author.objects.all()]))
    assert finding.relation == "Author.profile"
    assert finding.fix == 'select_related("profile")'
    qs = Author.objects.select_related("profile")
    assert run(_record(lambda: [a.profile.bio for a in qs])) == []


def test_forward_fk_candidates_are_narrowed_by_the_iterated_table() -> None:
    AuthorProfileFactory.create_batch(4)
    finding = _only_n_plus_one(
        _record(lambda: [p.author.name for p in AuthorProfile.objects.all()])
    )
    assert finding.relation == "AuthorProfile.author"


def test_repeated_values_are_absorbed_into_the_n_plus_one() -> None:
    shared = AuthorFactory()
    BookFactory.create_batch(3, author=shared)
    BookFactory.create_batch(2)
    findings = run(_record(lambda: [b.author.name for b in Book.objects.order_by("id")]))
    assert [(f.kind, f.count) for f in findings] == [("n_plus_one", 5)]


def test_lookup_by_a_plain_column_names_table_and_call_site() -> None:
    AuthorFactory.create_batch(4)

    def loop() -> None:
        names = list(Author.objects.values_list("name", flat=True))
        [Author.objects.filter(name=n).first() for n in names]

    finding = _only_n_plus_one(_record(loop))
    assert finding.relation is None
    assert finding.fix is None
    assert "`testapp_author` is queried once per row by `testapp_author.name`" in (
        finding.suggestion
    )
    assert "test_detect_n_plus_one.py:" in finding.suggestion


def test_min_repeats_setting() -> None:
    BookFactory.create_batch(2)
    loop = lambda: [b.author.name for b in Book.objects.all()]  # noqa: E731
    assert run(_record(loop)) == []  # 2 < default 3
    from django.test import override_settings

    with override_settings(PERFAUDIT={"N_PLUS_ONE_MIN_REPEATS": 2}):
        assert [f.kind for f in run(_record(loop))] == ["n_plus_one"]


# -- must not be flagged ------------------------------------------------------


def test_one_query_per_different_table_in_a_loop() -> None:
    BookFactory.create_batch(2)
    rec = _record(lambda: [m.objects.filter(pk=1).first() for m in (Author, Book, Tag, Review)])
    assert run(rec) == []


def test_same_shape_once_each_from_different_call_sites() -> None:
    a, b, c = AuthorFactory.create_batch(3)

    def three_places() -> None:
        Author.objects.filter(pk=a.pk).first()
        Author.objects.filter(pk=b.pk).first()
        Author.objects.filter(pk=c.pk).first()

    assert run(_record(three_places)) == []


def test_paginated_batches() -> None:
    AuthorFactory.create_batch(35)

    def batches() -> None:
        for start in range(0, 35, 10):
            list(Author.objects.order_by("id")[start : start + 10])

    assert run(_record(batches)) == []


@pytest.mark.django_db(transaction=True)
def test_transaction_control_and_batched_writes() -> None:
    def writes() -> None:
        for i in range(5):
            with transaction.atomic():
                Author.objects.create(name=f"w{i}")
        Author.objects.bulk_create([Author(name=f"b{i}") for i in range(10)], batch_size=2)

    rec = _record(writes)
    assert len(rec) >= 10
    assert run(rec) == []


def test_in_prefetch_queries(books: list[Book]) -> None:
    rec = _record(lambda: list(Book.objects.prefetch_related("author", "tags", "reviews")))
    assert len(rec) == 4
    assert run(rec) == []

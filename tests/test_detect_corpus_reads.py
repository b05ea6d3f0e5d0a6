"""The detector corpus, reads that are not N+1s: the same row re-read, batches,
writes between re-reads, `select_for_update`, the code between requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import run
from tests.corpus_data import make_library
from tests.factories import AuthorFactory
from tests.testapp.models import Author, Book, Loan, Reader

pytestmark = pytest.mark.django_db


def _record(action: Callable[[], Any]) -> Recording:
    with perfaudit.record() as rec:
        action()
    return rec


@pytest.fixture
def library() -> dict[str, Any]:
    return make_library()


def _client(reader: Reader) -> APIClient:
    client = APIClient()
    client.force_authenticate(reader.user)
    return client


def test_a_helper_reading_the_same_row_is_a_duplicate_not_an_n_plus_one(
    library: dict[str, Any],
) -> None:
    reader = library["readers"][0]
    findings = run(_record(lambda: [Reader.objects.get(pk=reader.pk) for _ in range(4)]))
    assert [(f.kind, f.count) for f in findings] == [("duplicate", 4)]


def test_a_varying_timestamp_is_not_a_row_key() -> None:
    author = AuthorFactory(name="m")
    findings = run(
        _record(lambda: [Author.objects.filter(pk=author.pk, name__gt=c).first() for c in "abcd"])
    )
    assert [f.kind for f in findings] == []


# -- batching, writes, select_for_update ----------------------------------------


def test_iterator_with_prefetch_is_batching(library: dict[str, Any]) -> None:
    def batches() -> list[list[str]]:
        books = Book.objects.prefetch_related("tags").order_by("id")
        return [[t.name for t in b.tags.all()] for b in books.iterator(chunk_size=2)]

    rec = _record(batches)
    assert len(rec) == 4  # one book query, read in 3 chunks, each with its tags prefetch
    assert run(rec) == []


@pytest.mark.django_db(transaction=True)
def test_select_for_update_reread_after_a_write(library: dict[str, Any]) -> None:
    loan = Loan.objects.order_by("id").first()
    assert loan is not None

    def reread() -> None:
        with transaction.atomic():
            locked = Loan.objects.select_for_update().get(pk=loan.pk)
            Loan.objects.filter(pk=locked.pk).update(returned=True)
            Loan.objects.select_for_update().get(pk=loan.pk)

    assert run(_record(reread)) == []

    def twice() -> None:
        with transaction.atomic():
            Loan.objects.select_for_update().get(pk=loan.pk)
            Loan.objects.select_for_update().get(pk=loan.pk)

    findings = run(_record(twice))
    assert [f.kind for f in findings] == ["duplicate"]
    if connection.features.has_select_for_update:
        assert "already locked" in findings[0].suggestion
    # (SQLite has no row locks: Django drops FOR UPDATE and it is a plain re-read.)


def test_reads_on_either_side_of_a_write_are_not_duplicates(library: dict[str, Any]) -> None:
    book = library["books"][0]

    def refresh() -> None:
        Book.objects.get(pk=book.pk)
        Book.objects.filter(pk=book.pk).update(title="new")
        Book.objects.get(pk=book.pk)

    assert run(_record(refresh)) == []


def test_a_loop_re_reading_several_rows_is_one_duplicate() -> None:
    authors = AuthorFactory.create_batch(3)

    def loop() -> None:
        for _ in range(2):
            for author in authors:
                Author.objects.filter(pk=author.pk, name=author.name).first()

    # Six reads of three rows, from one line, no parent query: one finding, not three.
    findings = run(_record(loop))
    assert [(f.kind, f.count) for f in findings] == [("duplicate", 6)]
    assert "3 different values" in findings[0].suggestion


def test_re_reads_between_requests_are_the_test_checking(library: dict[str, Any]) -> None:
    client = _client(library["readers"][0])
    reader = library["readers"][1]

    def test_body() -> None:
        client.get(f"/corpus/readers/{reader.pk}/")
        reader.refresh_from_db()
        reader.refresh_from_db()

    rec = _record(test_body)
    assert len(rec.requests) == 1
    assert run(rec) == []
    # The same re-reads in a block that makes no request are duplicates.
    assert [f.kind for f in run(_record(lambda: [reader.refresh_from_db() for _ in "ab"]))] == [
        "duplicate"
    ]


def test_a_method_repeating_its_lookup_gets_both_fixes(library: dict[str, Any]) -> None:
    """`Reader.has_favorited` asked twice the same question: the advice names the
    method and the fix for either case (same object, or objects sharing the row)."""
    reader, book = library["readers"][0], library["books"][0]
    findings = run(_record(lambda: [reader.has_favorited(book) for _ in range(2)]))
    (duplicate,) = findings
    assert duplicate.kind == "duplicate"
    assert "`Reader.has_favorited` runs the same lookup each time it is called" in (
        duplicate.suggestion
    )
    assert "`functools.cached_property` for a method without arguments" in duplicate.suggestion
    assert "`select_related` on their queryset" in duplicate.suggestion

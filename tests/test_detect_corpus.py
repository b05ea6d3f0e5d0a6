"""The detector corpus: per-row queries as real Django code writes them.

Each positive case asserts the finding (relation, fix, where the parent rows
were loaded), then runs the fixed version, which contains the suggested
``fix`` verbatim, and checks that the finding is gone and the results are
the same. Each negative case is a pattern that real projects run and that is
not an N+1 (batches, re-reads, one lookup per request).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Prefetch
from rest_framework.test import APIClient

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests import corpus_views
from tests.factories import AuthorFactory, BookFactory, TagFactory
from tests.helpers import line_of
from tests.testapp.models import Author, Book, Loan, Reader

pytestmark = pytest.mark.django_db


def _record(action: Callable[[], Any]) -> Recording:
    with perfaudit.record() as rec:
        action()
    return rec


def _by_relation(findings: list[Finding]) -> dict[str | None, Finding]:
    found = {f.relation: f for f in findings if f.kind == "n_plus_one"}
    assert len(found) == len([f for f in findings if f.kind == "n_plus_one"]), findings
    return found


@pytest.fixture
def library() -> dict[str, Any]:
    tags = TagFactory.create_batch(3)
    users = [User.objects.create(username=f"reader{i}") for i in range(4)]
    readers = [Reader.objects.create(user=user) for user in users]
    books = []
    for i in range(5):
        book = BookFactory()
        book.tags.set(tags[: i % 3 + 1])
        books.append(book)
    readers[0].favorites.set(books[:2])
    readers[1].favorites.set(books[1:4])
    readers[0].follows.set(readers[2:])
    for i, book in enumerate(books):
        Loan.objects.create(book=book, reader=readers[i % 4], returned=i % 2 == 0)
        Loan.objects.create(book=book, reader=readers[(i + 1) % 4])
    return {"readers": readers, "books": books}


def _client(reader: Reader) -> APIClient:
    client = APIClient()
    client.force_authenticate(reader.user)
    return client


# -- DRF: nested serializers, SerializerMethodField helpers on request.user ----


def test_generic_view_with_reader_side_favorites(library: dict[str, Any]) -> None:
    client = _client(library["readers"][0])
    rec = _record(lambda: client.get("/corpus/books/"))
    found = _by_relation(run(rec))
    assert set(found) == {"Book.author", "Book.tags", "Reader.favorites", "Book.favorited_by"}
    assert [f.kind for f in run(rec)].count("duplicate") == 0

    queryset_line = line_of(corpus_views.__file__, "book-list-queryset-marker")
    evaluated = f"evaluated at tests/corpus_views.py:{queryset_line} (BookList.queryset)"
    for finding in found.values():
        assert evaluated in finding.suggestion, finding.suggestion
        assert finding.request == "GET /corpus/books/"

    favorites = found["Reader.favorites"]
    assert favorites.count == 5
    assert favorites.fix == (
        "annotate(in_favorites=Exists(Reader.favorites.through.objects.filter("
        'reader=request.user.reader, book=OuterRef("pk"))))'
    )
    assert favorites.callsite is not None
    assert favorites.callsite.lineno == line_of(
        inspect.getsourcefile(Reader) or "", "has-favorited-marker"
    )
    assert found["Book.author"].fix == 'select_related("author")'
    assert found["Book.tags"].fix == 'prefetch_related("tags")'
    count = found["Book.favorited_by"]
    assert count.fix is not None
    assert count.fix.startswith(
        "annotate(favorited_by_count=Coalesce(Subquery(Book.favorited_by.through.objects.filter("
        'book=OuterRef("pk"))'
    )

    fixed_source = inspect.getsource(corpus_views.FixedBookList)
    for finding in found.values():
        assert finding.fix is not None
        assert _code(finding.fix) in _code(fixed_source), finding.fix
    fixed = _record(lambda: client.get("/corpus/books-fixed/"))
    assert run(fixed) == []
    assert len(fixed) == 2
    assert _json(client.get("/corpus/books-fixed/")) == _json(client.get("/corpus/books/"))


def test_viewset_with_a_chained_relation(library: dict[str, Any]) -> None:
    client = _client(library["readers"][0])
    rec = _record(lambda: client.get("/corpus/loans/"))
    found = _by_relation(run(rec))
    assert set(found) == {"Loan.reader", "Reader.user"}
    assert found["Loan.reader"].fix == 'select_related("reader")'
    # Reader rows come from the per-row Loan.reader loads: the path is composed.
    assert found["Reader.user"].fix == 'select_related("reader__user")'
    line = line_of(corpus_views.__file__, "loan-viewset-queryset-marker")
    assert f"corpus_views.py:{line} (LoanViewSet.queryset)" in found["Reader.user"].suggestion

    fixed_source = _code(inspect.getsource(corpus_views.FixedLoanViewSet))
    assert all(_code(f.fix or "?") in fixed_source for f in found.values())
    assert run(_record(lambda: client.get("/corpus/loans-fixed/"))) == []
    assert _json(client.get("/corpus/loans-fixed/")) == _json(client.get("/corpus/loans/"))


def test_one_lookup_per_request_over_several_requests(library: dict[str, Any]) -> None:
    client = _client(library["readers"][0])

    def several() -> None:
        for reader in library["readers"]:
            client.get(f"/corpus/readers/{reader.pk}/")

    rec = _record(several)
    assert len(rec.requests) == 4
    assert run(rec) == []


# -- loops in application code --------------------------------------------------


def test_reader_side_follows_under_a_joined_parent(library: dict[str, Any]) -> None:
    reader = library["readers"][0]

    def loop() -> list[bool]:
        return [reader.is_following(loan.reader) for loan in Loan.objects.select_related("reader")]

    finding = _by_relation(run(_record(loop)))["Reader.follows"]
    # The Reader rows are joined into the Loan query: the annotation reaches them
    # through the join (`OuterRef("reader")`), on the Loan queryset.
    assert finding.fix == (
        "annotate(reader_in_follows=Exists(Reader.follows.through.objects.filter("
        'from_reader=request.user.reader, to_reader=OuterRef("reader"))))'
    )
    request = SimpleNamespace(user=reader.user)  # what a view has

    def fixed() -> list[bool]:
        loans = Loan.objects.select_related("reader").annotate(
            reader_in_follows=Exists(
                Reader.follows.through.objects.filter(
                    from_reader=request.user.reader, to_reader=OuterRef("reader")
                )
            )
        )
        return [loan.reader_in_follows for loan in loans]

    assert _code(finding.fix) in _code(inspect.getsource(fixed))
    rec = _record(fixed)
    assert run(rec) == []
    assert len(rec) == 1
    assert fixed() == loop()


def test_filtered_related_manager_per_row(library: dict[str, Any]) -> None:
    returned = False

    def loop() -> list[list[int]]:
        return [
            [loan.pk for loan in book.loans.filter(returned=returned)]
            for book in Book.objects.order_by("id")
        ]

    finding = _by_relation(run(_record(loop)))["Book.loans"]
    assert finding.fix == (
        'prefetch_related(Prefetch("loans", queryset=Loan.objects.filter(returned=returned), '
        'to_attr="loans_filtered"))'
    )

    def fixed() -> list[list[int]]:
        books = Book.objects.order_by("id").prefetch_related(
            Prefetch(
                "loans", queryset=Loan.objects.filter(returned=returned), to_attr="loans_filtered"
            )
        )
        return [[loan.pk for loan in book.loans_filtered] for book in books]

    assert run(_record(fixed)) == []
    assert fixed() == loop()


def test_prefetch_chain_is_composed(library: dict[str, Any]) -> None:
    def loop() -> list[list[str]]:
        return [
            [tag.name for book in author.books.all() for tag in book.tags.all()]
            for author in Author.objects.prefetch_related("books").order_by("id")
        ]

    finding = _by_relation(run(_record(loop)))["Book.tags"]
    assert finding.fix == 'prefetch_related("books__tags")'

    def fixed() -> list[list[str]]:
        authors = Author.objects.prefetch_related("books").order_by("id")
        return [
            [tag.name for book in author.books.all() for tag in book.tags.all()]
            for author in authors.prefetch_related("books__tags")
        ]

    assert run(_record(fixed)) == []
    assert fixed() == loop()


def test_deferred_field_read_per_row(library: dict[str, Any]) -> None:
    def loop() -> list[Any]:
        return [book.published for book in Book.objects.only("title").order_by("id")]

    finding = _by_relation(run(_record(loop)))["Book.published"]
    assert finding.fix == 'only("title", "published")'

    def fixed() -> list[Any]:
        return [book.published for book in Book.objects.only("title", "published").order_by("id")]

    assert run(_record(fixed)) == []
    assert fixed() == loop()


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


def _code(text: str) -> str:
    """Source text without whitespace and trailing commas (the formatter's), for
    "the fix is in the fixed code" checks."""
    lines = [line.split("  #")[0] for line in text.splitlines()]
    return "".join("".join(lines).split()).replace(",)", ")")


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.content
    return json.loads(response.content)


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

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
from django.db.models import Exists, OuterRef, Prefetch
from rest_framework.test import APIClient

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests import corpus_views
from tests.corpus_data import make_library
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
    return make_library()


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


def _code(text: str) -> str:
    """Source text without whitespace and trailing commas (the formatter's), for
    "the fix is in the fixed code" checks."""
    lines = [line.split("  #")[0] for line in text.splitlines()]
    return "".join("".join(lines).split()).replace(",)", ")")


def _json(response: Any) -> Any:
    assert response.status_code == 200, response.content
    return json.loads(response.content)

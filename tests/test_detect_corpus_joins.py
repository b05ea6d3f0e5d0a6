"""The detector corpus: per-row queries through joins and subqueries.

Seen on a real project: a per-row ``COUNT`` filtered on a *joined* table
(``Check.objects.filter(project__owner=user).count()``) was named as the
reverse relation of the joined table and given an annotation that counted
the wrong rows; a parent query filtered by ``id IN (SELECT ...)`` was taken
for a prefetch batch, and the fix was sent to an unrelated earlier query.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests import corpus_views
from tests.corpus_data import make_library
from tests.helpers import line_of
from tests.testapp.models import Author, Book, Loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def library() -> dict[str, Any]:
    return make_library()


def _record(action: Callable[[], Any]) -> tuple[Recording, Any]:
    with perfaudit.record() as rec:
        result = action()
    return rec, result


def _n_plus_ones(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "n_plus_one"]


def loans_per_author() -> dict[int, int]:
    return {
        author.pk: Loan.objects.filter(book__author=author).count()
        for author in Author.objects.order_by("pk")
    }


@pytest.mark.usefixtures("library")
def test_a_count_filtered_on_a_joined_table_gets_no_relation_and_no_rewrite() -> None:
    rec, counts = _record(loans_per_author)
    assert len(counts) >= 3
    (finding,) = _n_plus_ones(run(rec))
    # Not `Author.books` (that would count books, not loans): no relation, no fix.
    assert finding.relation is None
    assert finding.fix is None
    assert finding.model == "testapp.Loan"
    assert "`testapp_loan` is counted once per row, joined to `testapp_book`" in finding.suggestion
    assert "`testapp_book.author_id`" in finding.suggestion


def authors_of_a_readers_books(reader_pk: int) -> list[str]:
    first = Loan.objects.select_related("book").order_by("pk").first()  # joins Book rows
    assert first is not None
    lent = Loan.objects.filter(reader_id=reader_pk).values("book_id")
    books = Book.objects.filter(id__in=lent).order_by("pk")  # books-by-subquery-marker
    return [book.author.name for book in books]


def authors_of_a_readers_books_fixed(reader_pk: int) -> list[str]:
    first = Loan.objects.select_related("book").order_by("pk").first()
    assert first is not None
    lent = Loan.objects.filter(reader_id=reader_pk).values("book_id")
    books = Book.objects.filter(id__in=lent).order_by("pk").select_related("author")
    return [book.author.name for book in books]


def test_a_parent_filtered_by_a_subquery_is_not_a_prefetch_batch(library: dict[str, Any]) -> None:
    reader = max(library["readers"], key=lambda r: r.loans.count())
    rec, names = _record(lambda: authors_of_a_readers_books(reader.pk))
    assert len(names) >= 3
    (finding,) = _n_plus_ones(run(rec))
    assert finding.relation == "Book.author"
    # The Book query is the parent, not the earlier Loan query that joined books.
    assert finding.fix == 'select_related("author")'
    assert "books-by-subquery-marker" not in finding.suggestion
    assert "test_detect_corpus_joins.py" in finding.suggestion
    fixed_rec, fixed_names = _record(lambda: authors_of_a_readers_books_fixed(reader.pk))
    assert _n_plus_ones(run(fixed_rec)) == []
    assert fixed_names == names


def test_a_list_drf_paginates_names_the_views_queryset(library: dict[str, Any]) -> None:
    """The paginator runs the COUNT and the page in DRF's code: both findings say
    where the view builds the queryset; the GROUP BY fix, applied, keeps the page."""
    client = APIClient()
    rec, response = _record(lambda: client.get("/corpus/book-stats/?page=2"))
    findings = {f.kind: f for f in run(rec)}
    line = line_of(corpus_views.__file__, "book-stats-queryset-marker")
    where = f"That queryset is built at tests/corpus_views.py:{line} (BookStatsList.queryset)."
    assert findings["count_distinct"].suggestion.endswith(where)
    assert findings["count_distinct"].fix is None  # its Exists() pattern has a `...`
    group_by = findings["forced_group_by"]
    assert group_by.suggestion.endswith(where)
    assert group_by.fix is not None
    fixed_source = "".join(inspect.getsource(corpus_views.FixedBookStatsList).split())
    assert "".join(group_by.fix.split()) in fixed_source.replace(",)", ")")
    fixed_rec, fixed = _record(lambda: client.get("/corpus/book-stats-fixed/?page=2"))
    assert "forced_group_by" not in {f.kind for f in run(fixed_rec)}
    # The same page of results (the page links name each view's own URL).
    assert fixed.json()["results"] == response.json()["results"]
    assert fixed.json()["count"] == response.json()["count"]

"""PerfAuditTestMixin (unittest style): each assertion passing and failing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import django
import orjson
import pytest
from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.urls import reverse
from rest_framework.test import APITestCase

from perfaudit.payload import digest, payload_hash
from perfaudit.testing import PerfAuditTestMixin
from tests.factories import AuthorFactory, BookFactory
from tests.helpers import line_of
from tests.testapp.models import Author, Book


def _loop_over_authors() -> None:
    for book in Book.objects.order_by("id"):  # books-marker
        book.author.name  # noqa: B018  authors-marker


class NumQueriesTests(PerfAuditTestMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        BookFactory.create_batch(3)

    def test_context_manager_passes_at_or_under_the_limit(self) -> None:
        with self.assertNumQueriesAtMost(4) as rec:
            _loop_over_authors()
        assert len(rec) == 4

    def test_callable_form_returns_the_result(self) -> None:
        assert self.assertNumQueriesAtMost(1, Author.objects.count) == 3

    def test_failure_message_for_an_n_plus_one(self) -> None:
        with pytest.raises(AssertionError) as raised, self.assertNumQueriesAtMost(2):
            _loop_over_authors()
        message = re.sub(r"\d+\.\d ms", "<t> ms", str(raised.value))
        books, authors = line_of(__file__, "books-marker"), line_of(__file__, "authors-marker")
        here = "tests/test_testing.py"
        expected = f"""\
Expected at most 2 queries on 'default', ran 4.

Queries by shape, most frequent first:
     3 × SELECT testapp_author.id, testapp_author.name FROM testapp_author WHERE testapp_author.id = ? LIMIT ?
         3 from {here}:{authors} in _loop_over_authors
     1 × SELECT testapp_book.id, testapp_book.title, testapp_book.author_id, testapp_book.published FROM testapp_book ORDER BY testapp_book.id ASC
         1 from {here}:{books} in _loop_over_authors

Findings:
  - [n_plus_one, medium] `Book.author` is loaded one row at a time (3 queries from {here}:{authors}, <t> ms); add `select_related("author")` to the queryset that loads `Book` rows (evaluated at {here}:{books}).

Fix the findings above, or raise the limit if the extra queries are intended.

All queries:
  1. SELECT "testapp_book"."id", "testapp_book"."title", "testapp_book"."author_id", "testapp_book"."published" FROM "testapp_book" ORDER BY "testapp_book"."id" ASC
  2. SELECT "testapp_author"."id", "testapp_author"."name" FROM "testapp_author" WHERE "testapp_author"."id" = %s LIMIT 21
  3. SELECT "testapp_author"."id", "testapp_author"."name" FROM "testapp_author" WHERE "testapp_author"."id" = %s LIMIT 21
  4. SELECT "testapp_author"."id", "testapp_author"."name" FROM "testapp_author" WHERE "testapp_author"."id" = %s LIMIT 21"""  # noqa: E501
        # The raw SQL is quoted the backend's way (`testapp_book` on MySQL).
        head, _, raw_sql = expected.partition("All queries:\n")
        quote = connection.ops.quote_name("x")[0]
        expected = f"{head}All queries:\n{raw_sql.replace(chr(34), quote)}"
        if django.VERSION >= (6, 1):
            expected = expected.replace(
                f"(evaluated at {here}:{books}).",
                f"(evaluated at {here}:{books}), or load Author rows for all peers on first "
                "access with `.fetch_mode(models.FETCH_PEERS)` (Django 6.1+).",
            )
        assert message == expected

    def test_long_recordings_are_truncated(self) -> None:
        with pytest.raises(AssertionError) as raised, self.assertNumQueriesAtMost(10):
            for _ in range(60):
                Author.objects.exists()
        message = str(raised.value)
        assert "ran 60" in message
        assert "  50. SELECT" in message
        assert "  51. " not in message
        assert "… 10 more" in message


class AliasTests(PerfAuditTestMixin, TestCase):
    databases = {"default", "other"}

    def test_using_selects_the_aliases_counted(self) -> None:
        with self.assertNumQueriesAtMost(1):
            Author.objects.count()
            Author.objects.using("other").count()
        with self.assertNumQueriesAtMost(1, using="other"):
            Author.objects.count()
            Author.objects.using("other").count()
        with pytest.raises(AssertionError, match="on all databases, ran 2"):
            with self.assertNumQueriesAtMost(1, using="__all__"):
                Author.objects.count()
                Author.objects.using("other").count()


class FindingsTests(PerfAuditTestMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        BookFactory.create_batch(3)

    def test_no_n_plus_one_in_all_three_forms(self) -> None:
        with pytest.raises(AssertionError) as raised, self.assertNoNPlusOne():
            _loop_over_authors()
        message = str(raised.value)
        assert message.startswith("Expected no n_plus_one findings, found 1:\n  - [n_plus_one")
        assert "`Book.author`" in message
        assert 'select_related("author")' in message

        with pytest.raises(AssertionError, match=r"Book\.author"):
            self.assertNoNPlusOne(_loop_over_authors)

        with self.assertNoNPlusOne():
            [b.author.name for b in Book.objects.select_related("author")]

    def test_no_findings_with_kinds_and_recordings(self) -> None:
        import perfaudit

        author = Author.objects.first()
        assert author is not None
        with perfaudit.record() as rec:
            Author.objects.get(pk=author.pk)
            Author.objects.get(pk=author.pk)
        self.assertNoFindings(rec, kinds=["n_plus_one"])
        with pytest.raises(AssertionError, match="Expected no duplicate findings"):
            self.assertNoFindings(rec)


class ScalingTests(PerfAuditTestMixin, TestCase):
    def _build(self, size: int) -> None:
        BookFactory.create_batch(size)

    def test_fails_on_the_n_plus_one_list_view_and_names_what_grew(self) -> None:
        url = reverse("testing:book-list")
        with pytest.raises(AssertionError) as raised:
            self.assertQueriesDoNotScale(self._build, lambda: self.client.get(url))
        message = str(raised.value)
        assert message.startswith("Query count grows with the data: 3 at size 2, 11 at size 10.")
        assert "  2 → 10 (+8)  SELECT testapp_author.id" in message
        assert 'select_related("author")' in message
        assert Book.objects.count() == 0  # every size was rolled back

    def test_passes_on_the_fixed_view(self) -> None:
        url = reverse("testing:book-list-fixed")
        recordings = self.assertQueriesDoNotScale(
            self._build, lambda: self.client.get(url), sizes=(1, 5, 20)
        )
        assert [len(r) for r in recordings] == [1, 1, 1]

    def test_sizes_must_increase(self) -> None:
        with pytest.raises(ValueError, match="increasing"):
            self.assertQueriesDoNotScale(self._build, lambda: None, sizes=(10, 2))


@override_settings(PERFAUDIT={"BUDGETS": {"testing:book-list*": {"queries": 2}}})
class BudgetTests(PerfAuditTestMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        BookFactory.create_batch(3)

    def test_a_view_over_its_budget(self) -> None:
        with pytest.raises(AssertionError) as raised:
            self.assertWithinBudget(self.client.get, reverse("testing:book-list"))
        message = str(raised.value)
        assert message.startswith(
            "testing:book-list ran 4 queries, over its budget of 2 "
            "(PERFAUDIT['BUDGETS']['testing:book-list*']['queries'])"
        )
        assert 'select_related("author")' in message

    def test_a_view_within_its_budget_returns_the_response(self) -> None:
        response = self.assertWithinBudget(self.client.get, reverse("testing:book-list-fixed"))
        assert response.status_code == 200

    def test_a_view_without_a_budget(self) -> None:
        with pytest.raises(AssertionError, match="No budget for view 'testing:titles'"):
            self.assertWithinBudget(self.client.get, reverse("testing:titles"))


class PayloadTests(PerfAuditTestMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        BookFactory.create_batch(2)

    def test_payload_hash(self) -> None:
        response = self.client.get(reverse("testing:book-list"))
        expected = payload_hash(response)
        self.assertPayloadHash(self.client.get(reverse("testing:book-list-fixed")), expected)
        Book.objects.filter(pk=Book.objects.first().pk).update(title="Changed")  # type: ignore[union-attr]
        with pytest.raises(AssertionError, match="Payload hash differs: expected sha256:"):
            self.assertPayloadHash(self.client.get(reverse("testing:book-list")), expected)


class SnapshotLifecycleTests(PerfAuditTestMixin, TestCase):
    """assertPayloadUnchanged writes beside *this* module: clean up around each test."""

    folder = Path(__file__).parent / "__perfaudit__"

    def setUp(self) -> None:
        self._remove()
        self.addCleanup(self._remove)

    def _remove(self) -> None:
        index = self.folder / "test_testing.json"
        index.unlink(missing_ok=True)
        payloads = self.folder / "test_testing"
        if payloads.exists():
            for file in payloads.iterdir():
                file.unlink()
            payloads.rmdir()
        if self.folder.exists() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def test_create_match_mismatch_update(self) -> None:
        AuthorFactory(name="Ann")
        book = BookFactory(title="First")
        url = reverse("testing:book-list")
        with self.assertNumQueriesAtMost(5) as rec:
            response = self.client.get(url)
        self.assertPayloadUnchanged(response, "book list", queries=rec)

        index = orjson.loads((self.folder / "test_testing.json").read_bytes())
        assert index == {
            "book list": {
                "hash": payload_hash(response),
                "body": digest(response).canonical,
                "status": 200,
                "content_type": "application/json",
                "kind": "json",
                "queries": 2,
            }
        }
        stored = orjson.loads((self.folder / "test_testing" / "book-list.json").read_bytes())
        assert stored[0]["title"] == "First"

        self.assertPayloadUnchanged(self.client.get(url), "book list")  # match

        Book.objects.filter(pk=book.pk).update(title="Second")
        with pytest.raises(AssertionError) as raised:
            self.assertPayloadUnchanged(self.client.get(url), "book list")
        message = str(raised.value)
        assert message.startswith("Payload of 'book list' changed: sha256:")
        assert "First difference at $[0].title: snapshot 'First', now 'Second'" in message
        assert "--perfaudit-update" in message

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PERFAUDIT_UPDATE", "1")
            self.assertPayloadUnchanged(self.client.get(url), "book list", queries=7)
        index = orjson.loads((self.folder / "test_testing.json").read_bytes())
        assert index["book list"]["queries"] == 7
        self.assertPayloadUnchanged(self.client.get(url), "book list")


class DrfApiTestCaseExample(PerfAuditTestMixin, APITestCase):
    """The copy-paste example of docs/testing.md, on DRF's APITestCase."""

    @classmethod
    def setUpTestData(cls) -> None:
        BookFactory.create_batch(5)

    def test_book_list_is_cheap_and_has_no_n_plus_one(self) -> None:
        url = reverse("testing:book-list-fixed")
        with self.assertNumQueriesAtMost(1), self.assertNoNPlusOne():
            response = self.client.get(url)
        assert response.status_code == 200
        assert len(response.json()) == 5


class TransactionTestCaseWorks(PerfAuditTestMixin, TransactionTestCase):
    def test_scaling_rolls_back_in_a_transaction_test_case(self) -> None:
        def build(size: int) -> Any:
            return BookFactory.create_batch(size)

        self.assertQueriesDoNotScale(
            build, lambda: list(Book.objects.select_related("author")), sizes=(1, 3)
        )
        assert Book.objects.count() == 0

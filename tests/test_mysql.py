"""MariaDB/MySQL: the SQL Django generates there, through fingerprints and detectors.

The statements below are copied from recordings on MariaDB 10.11 (Django 4.2
and 5.2 produce the same text): backtick identifiers, ``LIKE BINARY``,
``GROUP BY`` of the primary key followed by ``ORDER BY NULL``, the
``DELETE t FROM t INNER JOIN …`` form of a delete over a join, and the
offset-only ``LIMIT 18446744073709551615``. They are hand-built recordings,
so these tests run on every backend; the whole suite also runs on MariaDB
(``PERFAUDIT_TEST_DB=mysql``), where the same detectors see the real thing.
"""

from __future__ import annotations

import pytest
from django.db import connection

import perfaudit
from perfaudit.capture import CallSite, QueryEvent, Recording
from perfaudit.detect import Finding, run
from perfaudit.sql.shape import analyze, fingerprint
from tests.testapp.models import Author

_SITE = CallSite("app/views.py", 12, "list_books")
_BOOK_COLUMNS = (
    "`testapp_book`.`id`, `testapp_book`.`title`, `testapp_book`.`author_id`, "
    "`testapp_book`.`published`"
)
_TAGS_JOIN = (
    "FROM `testapp_book` INNER JOIN `testapp_book_tags` ON (`testapp_book`.`id` = "
    "`testapp_book_tags`.`book_id`) INNER JOIN `testapp_tag` ON "
    "(`testapp_book_tags`.`tag_id` = `testapp_tag`.`id`)"
)
_REVIEWS_JOIN = (
    "FROM `testapp_book` LEFT OUTER JOIN `testapp_review` ON "
    "(`testapp_book`.`id` = `testapp_review`.`book_id`)"
)


def _recording(*statements: tuple[str, tuple[object, ...]]) -> Recording:
    return Recording(
        [
            QueryEvent(sql, params=params, duration=0.002, callsite=_SITE)
            for sql, params in statements
        ]
    )


def _only(findings: list[Finding], kind: str) -> Finding:
    assert [f.kind for f in findings] == [kind], [f.suggestion for f in findings]
    return findings[0]


def test_backtick_shapes_equal_the_double_quoted_ones() -> None:
    mysql = f"SELECT {_BOOK_COLUMNS} FROM `testapp_book` WHERE `testapp_book`.`id` = %s LIMIT 21"
    ansi = mysql.replace("`", '"')
    assert (
        fingerprint(mysql)
        == fingerprint(ansi)
        == (
            "SELECT testapp_book.id, testapp_book.title, testapp_book.author_id, "
            "testapp_book.published FROM testapp_book WHERE testapp_book.id = ? LIMIT ?"
        )
    )
    assert analyze(mysql).filters == analyze(ansi).filters == ("testapp_book.id",)


def test_paginator_count_over_distinct_join() -> None:
    count = (
        "SELECT COUNT(*) FROM (SELECT DISTINCT `testapp_book`.`id` AS `col1`, "
        "`testapp_book`.`title` AS `col2`, `testapp_book`.`author_id` AS `col3`, "
        f"`testapp_book`.`published` AS `col4` {_TAGS_JOIN} "
        "WHERE `testapp_tag`.`name` LIKE BINARY %s) subquery"
    )
    page = (
        f"SELECT DISTINCT {_BOOK_COLUMNS} {_TAGS_JOIN} WHERE `testapp_tag`.`name` "
        "LIKE BINARY %s ORDER BY `testapp_book`.`id` ASC LIMIT 10"
    )
    shape = analyze(count)
    assert shape.count_over_distinct
    assert shape.distinct_columns == 4
    finding = _only(run(_recording((count, ("tag%",)), (page, ("tag%",)))), "count_distinct")
    assert finding.severity == "high"
    assert finding.model == "testapp.Book"
    assert 'Exists(Book.tags.through.objects.filter(book=OuterRef("pk"), ...))' in (
        finding.suggestion
    )


def test_count_distinct_aggregate_over_a_join() -> None:
    sql = (
        "SELECT COUNT(DISTINCT `testapp_book_tags`.`tag_id`) AS `n` FROM `testapp_book` "
        "LEFT OUTER JOIN `testapp_book_tags` ON "
        "(`testapp_book`.`id` = `testapp_book_tags`.`book_id`)"
    )
    finding = _only(run(_recording((sql, ()))), "count_distinct")
    assert "`COUNT(DISTINCT …)`" in finding.suggestion


@pytest.mark.parametrize(
    "group_by",
    [
        # What Django emits on MariaDB/MySQL: the primary key, and ORDER BY NULL
        # when the queryset is unordered (MySQL < 8 sorted GROUP BY results).
        "GROUP BY `testapp_book`.`id` ORDER BY NULL LIMIT 10",
        # Every selected column, as on SQLite.
        f"GROUP BY {_BOOK_COLUMNS} ORDER BY `testapp_book`.`id` ASC LIMIT 10",
    ],
)
def test_forced_group_by(group_by: str) -> None:
    sql = f"SELECT {_BOOK_COLUMNS}, COUNT(`testapp_review`.`id`) AS `n` {_REVIEWS_JOIN} {group_by}"
    finding = _only(run(_recording((sql, ()))), "forced_group_by")
    assert finding.model == "testapp.Book"
    assert finding.fix == (
        'annotate(n=Coalesce(Subquery(Review.objects.filter(book=OuterRef("pk")).order_by()'
        '.values("book").annotate(n=Count("pk")).values("n")), 0))'
    )


def test_report_grouped_by_another_column_is_not_a_forced_group_by() -> None:
    sql = (
        "SELECT `testapp_book`.`author_id`, COUNT(`testapp_book`.`id`) AS `n` "
        "FROM `testapp_book` GROUP BY `testapp_book`.`author_id` ORDER BY NULL"
    )
    assert run(_recording((sql, ()))) == []


def test_n_plus_one_over_a_forward_foreign_key() -> None:
    parents = f"SELECT {_BOOK_COLUMNS} FROM `testapp_book` LIMIT 3"
    child = (
        "SELECT `testapp_author`.`id`, `testapp_author`.`name` FROM `testapp_author` "
        "WHERE `testapp_author`.`id` = %s LIMIT 21"
    )
    rec = _recording((parents, ()), *((child, (i,)) for i in range(1, 4)))
    finding = _only(run(rec), "n_plus_one")
    assert finding.relation == "Book.author"
    assert finding.fix == 'select_related("author")'


def test_n_plus_one_over_a_many_to_many() -> None:
    child = (
        "SELECT `testapp_tag`.`id`, `testapp_tag`.`name` FROM `testapp_tag` INNER JOIN "
        "`testapp_book_tags` ON (`testapp_tag`.`id` = `testapp_book_tags`.`tag_id`) "
        "WHERE `testapp_book_tags`.`book_id` = %s"
    )
    parents = f"SELECT {_BOOK_COLUMNS} FROM `testapp_book` LIMIT 3"
    rec = _recording((parents, ()), *((child, (i,)) for i in range(1, 4)))
    finding = _only(run(rec), "n_plus_one")
    assert finding.relation == "Book.tags"
    assert finding.fix == 'prefetch_related("tags")'


def test_savepoints_fold_and_are_never_findings() -> None:
    statements = [
        ("SAVEPOINT `s139781332298624_x5`", ()),
        ("RELEASE SAVEPOINT `s139781332298624_x5`", ()),
        ("SAVEPOINT `s139781332298624_x6`", ()),
        ("ROLLBACK TO SAVEPOINT `s139781332298624_x6`", ()),
    ] * 3
    rec = _recording(*statements)
    assert {q.shape.kind for q in rec} == {"transaction"}
    assert {q.shape.fingerprint for q in rec} == {
        "SAVEPOINT ?",
        "RELEASE SAVEPOINT ?",
        "ROLLBACK TO SAVEPOINT ?",
    }
    assert run(rec) == []


def test_offset_only_slice_shares_the_page_shape() -> None:
    # MySQL has no OFFSET without LIMIT: Django writes the largest LIMIT.
    rest = f"SELECT {_BOOK_COLUMNS} FROM `testapp_book` LIMIT 18446744073709551615 OFFSET 3"
    page = f"SELECT {_BOOK_COLUMNS} FROM `testapp_book` LIMIT 10 OFFSET 20"
    assert fingerprint(rest) == fingerprint(page)
    assert fingerprint(rest).endswith("LIMIT ? OFFSET ?")


def test_multi_table_delete_names_its_target() -> None:
    sql = (
        "DELETE `testapp_review` FROM `testapp_review` INNER JOIN `testapp_book` ON "
        "(`testapp_review`.`book_id` = `testapp_book`.`id`) WHERE `testapp_book`.`title` = %s"
    )
    shape = analyze(sql)
    assert shape.kind == "delete"
    assert shape.written == ("testapp_review",)
    assert shape.tables == ("testapp_review", "testapp_book")
    assert shape.filters == ("testapp_book.title",)


@pytest.mark.django_db(transaction=True)
def test_connection_set_up_is_not_recorded() -> None:
    """Django's MySQL backend sets each new connection up through a wrapped cursor
    (``SET SESSION TRANSACTION ISOLATION LEVEL …``, a server-version probe); like
    Django's ``assertNumQueries``, a recording counts only the block's own queries.
    (On SQLite's in-memory test database ``close()`` keeps the connection.)"""
    connection.close()
    with perfaudit.record() as rec:
        Author.objects.count()
    assert [q.shape.fingerprint for q in rec] == ["SELECT COUNT(*) AS __count FROM testapp_author"]

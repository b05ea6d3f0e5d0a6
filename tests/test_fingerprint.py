"""fingerprint() / analyze(): shapes of the SQL Django really generates."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q

import perfaudit
from perfaudit.sql.shape import analyze, fingerprint
from tests.factories import AuthorFactory, BookFactory, TagFactory
from tests.testapp.models import Author, Book, Review, Tag


def _sql_of(action: object) -> list[str]:
    """Run ``action`` (a callable) and return the SQL it executed, transaction control excluded."""
    with perfaudit.record() as rec:
        action()  # type: ignore[operator]
    return [q.sql for q in rec if q.shape.kind != "transaction"]


def _one_sql(action: object) -> str:
    statements = _sql_of(action)
    assert len(statements) == 1, statements
    return statements[0]


# -- real ORM SQL, on whichever database the suite runs on --------------------

pytestmark = pytest.mark.django_db


def test_in_lists_of_any_length_share_a_shape() -> None:
    two = _one_sql(lambda: list(Author.objects.filter(id__in=[1, 2])))
    five = _one_sql(lambda: list(Author.objects.filter(id__in=[1, 2, 3, 4, 5])))
    one = _one_sql(lambda: list(Author.objects.filter(id__in=[7])))
    assert two != five
    assert fingerprint(two) == fingerprint(five) == fingerprint(one)
    assert "IN (...)" in fingerprint(two)
    by_name = _one_sql(lambda: list(Author.objects.filter(name__in=["a", "b"])))
    assert fingerprint(by_name) != fingerprint(two)


def test_filters_with_different_values_share_a_shape() -> None:
    a = _one_sql(lambda: list(Author.objects.filter(name="Ann", id__gt=3)))
    b = _one_sql(lambda: list(Author.objects.filter(name="Bob", id__gt=99)))
    assert fingerprint(a) == fingerprint(b)
    shape = analyze(a)
    assert shape.kind == "select"
    assert shape.tables == ("testapp_author",)
    assert "WHERE (testapp_author.id > ? AND testapp_author.name = ?)" in shape.fingerprint or (
        "testapp_author.name = ?" in shape.fingerprint
    )


def test_pages_of_a_paginated_list_share_a_shape() -> None:
    page2 = _one_sql(lambda: list(Author.objects.order_by("id")[10:20]))
    page3 = _one_sql(lambda: list(Author.objects.order_by("id")[20:30]))
    assert fingerprint(page2) == fingerprint(page3)
    assert fingerprint(page2).endswith("LIMIT ? OFFSET ?")


def test_bulk_create_of_different_sizes_share_a_shape() -> None:
    three = _one_sql(lambda: Author.objects.bulk_create(Author(name=f"a{i}") for i in range(3)))
    five = _one_sql(lambda: Author.objects.bulk_create(Author(name=f"b{i}") for i in range(5)))
    assert fingerprint(three) == fingerprint(five)
    shape = analyze(three)
    assert shape.kind == "insert"
    assert shape.written == ("testapp_author",)


def test_join_lists_every_table_read() -> None:
    sql = _one_sql(lambda: list(Book.objects.select_related("author").filter(author__name="x")))
    shape = analyze(sql)
    assert shape.tables == ("testapp_book", "testapp_author")
    assert "INNER JOIN testapp_author ON" in shape.fingerprint


def test_m2m_and_reverse_relations() -> None:
    book = BookFactory()
    book.tags.add(TagFactory())
    tags_sql = _one_sql(lambda: list(book.tags.all()))
    assert set(analyze(tags_sql).tables) == {"testapp_tag", "testapp_book_tags"}
    reviews_sql = _one_sql(lambda: list(book.reviews.all()))
    assert analyze(reviews_sql).tables == ("testapp_review",)


def test_prefetch_queries_of_different_sizes_share_a_shape() -> None:
    """Django 5.2 prefetches through tuple lookups: ``IN ((?), (?))`` or, on
    SQLite, ``(id = ? OR id = ?)``; older versions use ``IN (?, ?)``."""
    BookFactory.create_batch(3)
    three = _sql_of(lambda: list(Book.objects.prefetch_related("author")))
    BookFactory.create_batch(2)
    five = _sql_of(lambda: list(Book.objects.prefetch_related("author")))
    assert len(three) == len(five) == 2
    assert three[1] != five[1]
    assert fingerprint(three[1]) == fingerprint(five[1])
    assert "IN (...)" in fingerprint(three[1]) or "OR ..." in fingerprint(three[1])


def test_repeated_or_terms_fold_but_different_terms_do_not() -> None:
    assert fingerprint("SELECT * FROM t WHERE (t.id = ? OR t.id = ? OR t.id = ?)") == (
        "SELECT * FROM t WHERE (t.id = ? OR ...)"
    )
    assert fingerprint("SELECT * FROM t WHERE ((a = ? AND b = ?) OR (a = ? AND b = ?))") == (
        "SELECT * FROM t WHERE ((a = ? AND b = ?) OR ...)"
    )
    assert fingerprint("SELECT * FROM t WHERE (t.a = ? OR t.b = ?)") == (
        "SELECT * FROM t WHERE (t.a = ? OR t.b = ?)"
    )
    assert fingerprint("SELECT * FROM t WHERE x IN ((?, ?), (?, ?))") == (
        "SELECT * FROM t WHERE x IN (...)"
    )


def test_subqueries_and_exists() -> None:
    reviewed = Review.objects.filter(book=OuterRef("pk"), rating__gte=4)
    sql = _one_sql(lambda: list(Book.objects.filter(Exists(reviewed))))
    shape = analyze(sql)
    assert shape.tables == ("testapp_book", "testapp_review")
    assert "EXISTS (SELECT" in shape.fingerprint

    nested = _one_sql(
        lambda: list(Author.objects.filter(pk__in=Book.objects.filter(title="x").values("author")))
    )
    assert "IN (SELECT" in fingerprint(nested)
    assert analyze(nested).tables == ("testapp_author", "testapp_book")


def test_distinct_count_over_a_join() -> None:
    sql = _one_sql(lambda: Book.objects.filter(tags__name__startswith="t").distinct().count())
    shape = analyze(sql)
    assert shape.fingerprint.startswith("SELECT COUNT(*)")
    assert "DISTINCT" in shape.fingerprint
    assert set(shape.tables) == {"testapp_book", "testapp_book_tags", "testapp_tag"}


def test_annotation_produces_group_by() -> None:
    sql = _one_sql(lambda: list(Book.objects.annotate(n=Count("reviews"))))
    shape = analyze(sql)
    assert "COUNT(testapp_review.id)" in shape.fingerprint
    assert "GROUP BY" in shape.fingerprint
    assert shape.tables == ("testapp_book", "testapp_review")


def test_update_and_delete_name_their_target() -> None:
    update = _one_sql(lambda: Author.objects.filter(name="x").update(name="y"))
    assert analyze(update).kind == "update"
    assert analyze(update).written == ("testapp_author",)
    delete = _one_sql(lambda: Tag.objects.filter(Q(name="x") | Q(name="y"))._raw_delete("default"))
    assert analyze(delete).kind == "delete"
    assert analyze(delete).written == ("testapp_tag",)


@pytest.mark.django_db(transaction=True)
def test_savepoints_are_transaction_control_with_one_shape() -> None:
    AuthorFactory()
    with perfaudit.record() as rec:
        with transaction.atomic(), transaction.atomic():
            Author.objects.count()
        with transaction.atomic(), transaction.atomic():
            Author.objects.count()
    control = [q.shape for q in rec if q.shape.kind == "transaction"]
    savepoints = {s.fingerprint for s in control if s.fingerprint.startswith("SAVEPOINT")}
    if connection.features.uses_savepoints:
        assert savepoints == {"SAVEPOINT ?"}
    reads = [q for q in rec if q.shape.kind == "select"]
    assert len(reads) == 2


# -- hand-written SQL of each dialect -----------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "a"."id" FROM "books" "a" WHERE "a"."id" = %s',
        "SELECT `a`.`id` FROM `books` `a` WHERE `a`.`id` = %s",
        "select a.id from books a where a.id = ?",
        "SELECT a.id FROM books a WHERE a.id = $1",
        "SELECT a.id FROM books a WHERE a.id = :id",
        "SELECT a.id FROM books a WHERE a.id = %(id)s",
        "SELECT a.id FROM books a WHERE a.id = 42",
        "SELECT a.id FROM books a WHERE a.id = 'forty-two'",
        "SELECT /* hint */ a.id\n  FROM books a -- trailing\n WHERE a.id   =   4.2e1",
    ],
)
def test_dialects_placeholders_literals_comments_and_whitespace_fold(sql: str) -> None:
    assert fingerprint(sql) == "SELECT a.id FROM books a WHERE a.id = ?"


def test_string_literals_with_quotes_and_backslashes() -> None:
    assert fingerprint("SELECT 1 WHERE x = 'it''s' AND y LIKE %s ESCAPE '\\'") == (
        "SELECT ? WHERE x = ? AND y LIKE ? ESCAPE ?"
    )
    assert fingerprint("SELECT $$a 'quoted' body$$, $tag$x$tag$") == "SELECT ?, ?"


def test_postgres_casts_are_not_placeholders() -> None:
    shape = analyze('SELECT "t"."id"::text FROM "t" WHERE "t"."x" = ANY(%s::integer[])')
    assert shape.fingerprint == "SELECT t.id::TEXT FROM t WHERE t.x = ANY (?::INTEGER[])"


def test_booleans_and_numbers_become_placeholders_but_null_stays() -> None:
    assert fingerprint("SELECT * FROM t WHERE a = TRUE AND b = false AND c IS NULL LIMIT 21") == (
        "SELECT * FROM t WHERE a = ? AND b = ? AND c IS NULL LIMIT ?"
    )


def test_multi_row_values_collapse() -> None:
    one = fingerprint('INSERT INTO "t" ("a", "b") VALUES (%s, %s)')
    three = fingerprint('INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s)')
    assert one == three == "INSERT INTO t(a, b) VALUES (...)"


def test_in_subquery_is_kept() -> None:
    assert fingerprint("SELECT * FROM a WHERE id IN (SELECT b.a_id FROM b)") == (
        "SELECT * FROM a WHERE id IN (SELECT b.a_id FROM b)"
    )


def test_quoted_identifiers_keep_their_case_and_escaped_quotes() -> None:
    assert analyze('SELECT * FROM "My""Table"').tables == ('My"Table',)
    assert analyze("SELECT * FROM `weird``name`").tables == ("weird`name",)


def test_comma_joins_and_schema_qualified_tables() -> None:
    shape = analyze("SELECT * FROM public.a, b AS x, c y WHERE a.id = x.id")
    assert shape.tables == ("public.a", "b", "c")


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("BEGIN", "transaction"),
        ('RELEASE SAVEPOINT "s1_x1"', "transaction"),
        ('ROLLBACK TO SAVEPOINT "s1_x1"', "transaction"),
        ("COMMIT", "transaction"),
        ('CREATE TABLE "x" ("id" integer)', "ddl"),
        ("WITH c AS (SELECT 1) SELECT * FROM c", "select"),
        ("SET TIME ZONE 'UTC'", "other"),
    ],
)
def test_statement_kinds(sql: str, kind: str) -> None:
    assert analyze(sql).kind == kind


def test_savepoint_names_are_folded() -> None:
    assert fingerprint('RELEASE SAVEPOINT "s140_x12"') == fingerprint('RELEASE SAVEPOINT "s9_x1"')


def test_results_are_cached_on_the_sql_string() -> None:
    sql = "SELECT * FROM perfaudit_cache_probe WHERE id = %s"
    before = analyze.cache_info()
    first = analyze(sql)
    second = analyze(sql)
    after = analyze.cache_info()
    assert first is second
    assert after.misses <= before.misses + 1  # the second call was a hit


def test_delete_over_a_join_names_its_target() -> None:
    """MySQL deletes over a join with ``DELETE t FROM t INNER JOIN …``; the others
    with ``DELETE FROM t WHERE id IN (SELECT …)``. Either way ``t`` is written."""
    statements = _sql_of(lambda: Review.objects.filter(book__title="x").delete())
    deletes = [analyze(sql) for sql in statements if analyze(sql).kind == "delete"]
    assert [shape.written for shape in deletes] == [("testapp_review",)]
    assert "testapp_book" in deletes[0].tables


def test_prefixed_strings_and_words_that_look_like_them() -> None:
    # E'...' / N'...' are strings; a word ending in such a letter before a
    # string, or such a letter before an unterminated quote, is still a word.
    assert fingerprint("SELECT E'ab' , N'x', e.name FROM t e") == ("SELECT ?, ?, e.name FROM t e")
    assert fingerprint("SELECT x FROM t WHERE name = 'x'") == "SELECT x FROM t WHERE name = ?"
    assert analyze("SELECT * FROM t JOIN e' ON 1").tables == ("t", "e")


def test_unterminated_quotes_still_match_up_to_their_last_quote() -> None:
    # An unterminated string ends at the last quote that closes it; the rest
    # is tokenised on its own. Hand-written or cut-off SQL must not crash.
    assert fingerprint("SELECT 'it''s''") == "SELECT ? '"
    assert fingerprint('SELECT "a""b""') == 'SELECT a"b "'


def test_savepoint_name_is_the_one_token_after_savepoint() -> None:
    assert fingerprint("SAVEPOINT /* c */ s1_x2") == "SAVEPOINT ?"
    assert fingerprint('SAVEPOINT "s1_x2"') == "SAVEPOINT ?"
    assert fingerprint("SAVEPOINT s1 x") == "SAVEPOINT ? x"


def test_analyze_never_raises_on_malformed_sql() -> None:
    """Hand-written, cut-off or garbage SQL: a shape, never an exception."""
    import random

    vocabulary = (
        "SELECT FROM WHERE GROUP BY ORDER LIMIT OFFSET JOIN ON AS IN NOT AND OR COUNT "
        "DISTINCT SUM ( ) ( ) , = . * %s ? $1 :name 'str' E'x' 'it''s' 1 2.5 0x1F \"t\" "
        '"t"."c" `m` tbl col VALUES INSERT INTO UPDATE SET DELETE SAVEPOINT TRUE NULL '
        "/*c*/ :: ->> $$b$$ EXISTS HAVING ANY WITH CASE WHEN END ' \" [ ] ;"
    ).split()
    rng = random.Random(20261201)
    for _ in range(3000):
        sql = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 30)))
        sql = sql.replace("( ", "(") if rng.random() < 0.5 else sql
        shape = analyze(sql)
        assert isinstance(shape.fingerprint, str)
    assert analyze("SELECT a FROM t GROUP").group_by == ("",)
    assert analyze("SELECT COUNT(").aggregates[0].function == "COUNT"


def test_shape_fields_are_the_clause_fields_after_fingerprint_and_kind() -> None:
    from perfaudit.sql.clauses import Clauses

    assert perfaudit.SqlShape._fields[2:-1] == Clauses._fields
    assert perfaudit.SqlShape._fields[-1] == "truncated"  # set by analyze(), not extract()


def test_both_tokenizer_paths_read_sql_alike() -> None:
    """SQL without "$" takes its tokens from findall; with it, from match objects."""
    import random

    from perfaudit.sql import tokens as sqltokens
    from perfaudit.sql.tokens import tokenize

    vocabulary = (
        'SELECT FROM WHERE IN VALUES ( ) ( ) , = . * %s %(name)s ? :name :: 1 .5 0x1F "t" '
        '"t"."c" "a""b" "a""b"."c" `m` `m`.`c` col SAVEPOINT s1_x1 "s2_x2" TRUE false NULL '
        "'str' 'it''s' E'x' e' N'y' -- /*c*/ ->> %% ' \" Ärger OR AND x1 _y"
    ).split()
    rng = random.Random(7)
    statements = [
        'SAVEPOINT "s1_x1"',
        'SAVEPOINT /* c */ s1_x1; SAVEPOINT "t"."c"',
        "INSERT INTO t (a) VALUES (SAVEPOINT x), (%s)",
        "SELECT a FROM t -- comment\nWHERE a IN (%s, %s, %s)",
    ]
    for _ in range(2000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 25))]
        statements.append(" ".join(words).replace("-- ", "--c\n"))
    for sql in statements:
        assert "$" not in sql
        assert sqltokens._TOKEN_TEXT.findall(sql) == sqltokens._matched_tokens(sql), sql
        # The same statement tokenised through the match path ("$" in a comment).
        assert tokenize(sql) == tokenize(sql + " /*$*/"), sql


def test_token_table_keeps_no_long_literals() -> None:
    from perfaudit.sql import tokens as sqltokens

    literal = "'" + "x" * 500 + "'"
    fingerprint(f"SELECT * FROM t WHERE note = {literal} AND n = 12345678901234567890")
    assert literal not in sqltokens._KNOWN
    assert "12345678901234567890" not in sqltokens._KNOWN
    assert sqltokens._KNOWN["SELECT"] == ("SELECT", sqltokens.KW, sqltokens._PLAIN)


def test_clip_cuts_in_the_middle_and_keeps_the_where_clause() -> None:
    from perfaudit.sql.shape import clip

    columns = ", ".join(f"accounts_profile.column_{i}" for i in range(20))
    by_user = f"SELECT {columns} FROM accounts_profile WHERE accounts_profile.user_id = ?"
    by_id = f"SELECT {columns} FROM accounts_profile WHERE accounts_profile.id = ?"
    assert len(by_user) > 160
    short_user, short_id = clip(by_user), clip(by_id)
    assert len(short_user) <= 160
    assert len(short_id) <= 160
    assert short_user != short_id
    assert short_user.endswith("WHERE accounts_profile.user_id = ?")
    assert short_user.startswith("SELECT accounts_profile.column_0")
    assert "…" in short_user
    # A WHERE longer than the width is cut at its end; no WHERE: both ends kept.
    long_where = "SELECT a FROM t WHERE " + " AND ".join(f"t.c{i} = ?" for i in range(60))
    assert len(clip(long_where)) <= 160
    assert clip(long_where).startswith("SELECT a FROM t")
    no_where = "INSERT INTO t (" + ", ".join(f"c{i}" for i in range(80)) + ") VALUES (?)"
    assert clip(no_where).endswith(") VALUES (?)")
    assert clip("SELECT 1") == "SELECT 1"

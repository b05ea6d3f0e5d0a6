"""SQL shaping is linear, capped per statement, and its cache is bounded by bytes.

The timings are in ``benchmarks/bench_sql_linear.py``; these tests check what
the limits do to the results.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from perfaudit.sql.cache import DIGEST_OVER, MAX_BYTES, ShapeCache
from perfaudit.sql.shape import _ENTRIES, MAX_STATEMENT_CHARS, TRUNCATED, analyze, fingerprint


def test_a_statement_over_the_limit_gets_a_truncated_shape_that_says_so() -> None:
    columns = ", ".join(f"c{i}" for i in range(MAX_STATEMENT_CHARS // 4))
    sql = f"SELECT {columns} FROM t WHERE a = %s"
    assert len(sql) > MAX_STATEMENT_CHARS
    shape = analyze(sql)
    assert shape.truncated
    assert shape.fingerprint.startswith("SELECT c0, c1, c2")
    assert shape.fingerprint.endswith(TRUNCATED)
    assert not analyze("SELECT 1").truncated


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "SELECT " + "(" * 5000 + "?" + ")" * 5000),
        ("SELECT 1 " + "/* " * 5000, "SELECT ?"),
        ("SELECT 1 /* a */ /* b", "SELECT ?"),
        ("SELECT " + " ".join(f"$t{i}$" for i in range(3000)), "SELECT ?"),
        ("SELECT $a$ x $$ y $a$, 2", "SELECT ?, ?"),
        ("SELECT $$ a $$, $$ b", "SELECT ?, ?"),
        ("SELECT * FROM t WHERE a IN (" + "(" * 3000 + "%s" + ")" * 3000 + ")", None),
    ],
)
def test_pathological_statements_still_get_a_shape(sql: str, expected: str | None) -> None:
    result = fingerprint(sql)
    if expected is not None:
        assert result == expected


def test_nested_or_and_in_groups_collapse_as_before() -> None:
    assert fingerprint("SELECT * FROM t WHERE (a = %s OR a = %s OR a = %s)") == (
        "SELECT * FROM t WHERE (a = ? OR ...)"
    )
    assert fingerprint("SELECT * FROM t WHERE ((a = %s OR a = %s) OR (a = %s OR a = %s))") == (
        "SELECT * FROM t WHERE ((a = ? OR ...) OR ...)"
    )
    assert fingerprint("SELECT * FROM t WHERE (a = %s OR a = %s OR b = %s)") == (
        "SELECT * FROM t WHERE (a = ? OR a = ? OR b = ?)"
    )
    assert fingerprint("SELECT * FROM t WHERE (a, b) IN ((%s, %s), (%s, %s))") == (
        "SELECT * FROM t WHERE (a, b) IN (...)"
    )
    assert fingerprint("SELECT * FROM t WHERE a IN (%s, b, %s)") == (
        "SELECT * FROM t WHERE a IN (?, b, ?)"
    )
    assert fingerprint("SELECT * FROM t WHERE a IN (x IN (%s, %s), %s)") == (
        "SELECT * FROM t WHERE a IN (x IN (...), ?)"
    )


def test_nested_aggregates_keep_short_expressions() -> None:
    depth = 2000
    shape = analyze("SELECT " + "COUNT(" * depth + "x" + ")" * depth + " FROM t")
    assert shape.aggregates
    assert max(len(a.column) for a in shape.aggregates) < 2000


def test_the_cache_is_bounded_by_bytes_and_never_holds_a_long_statement() -> None:
    analyze.cache_clear()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200):  # 200 distinct statements of 1 MB each
            sql = f"SELECT {i}, '" + "x" * 1_000_000 + "'"
            analyze(sql)
            del sql
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < MAX_BYTES + 4 * 1024 * 1024, after - before  # not 240 MB
    info = analyze.cache_info()
    assert info.misses == 200
    assert 0 < info.entries < 200  # each keeps a 100,000-character (truncated) shape
    assert info.bytes <= MAX_BYTES
    assert all(not isinstance(key, str) or len(key) <= DIGEST_OVER for key in _ENTRIES)
    analyze.cache_clear()


def test_long_statements_under_the_limit_are_keyed_by_digest() -> None:
    analyze.cache_clear()
    sql = "SELECT a FROM t WHERE b = '" + "y" * 50_000 + "'"
    first = analyze(sql)
    assert analyze((sql + " ")[:-1]) is first  # a hit: same text, another string object
    (key,) = _ENTRIES
    assert isinstance(key, bytes)
    assert len(key) == 16
    assert first.fingerprint == "SELECT a FROM t WHERE b = ?"
    analyze.cache_clear()


def test_eviction_is_by_bytes_oldest_first() -> None:
    def compute(sql: str) -> tuple[str]:
        return (sql * 50,)

    cache = ShapeCache(compute, max_bytes=60_000)
    for i in range(500):
        cache(f"statement {i:04}")
        assert cache.cache_info().bytes <= 60_000
    info = cache.cache_info()
    assert 0 < info.entries < 500
    assert info.misses == 500
    cache("statement 0499")  # the newest is kept: a hit
    assert cache.cache_info().misses == 500
    cache("statement 0000")  # the oldest went first: a miss
    assert cache.cache_info().misses == 501


def test_an_entry_larger_than_the_cache_is_computed_but_not_kept() -> None:
    cache = ShapeCache(lambda sql: (sql * 10_000,), max_bytes=10_000)
    assert cache("abc") == ("abc" * 10_000,)
    assert cache.cache_info().entries == 0

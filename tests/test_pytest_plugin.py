"""The pytest plugin, exercised in real pytest subprocesses (pytester)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent

CONFTEST = """
import pytest
from tests.factories import BookFactory

@pytest.fixture
def books(db):
    return BookFactory.create_batch(3)
"""

N_PLUS_ONE = """
from tests.testapp.models import Book

def loop():
    for book in Book.objects.order_by("id"):
        book.author.name
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose subprocesses use this repo's test settings and databases."""
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    # A separate PostgreSQL database name: the outer suite's test database is in use.
    monkeypatch.setenv(
        "PERFAUDIT_PG_DB", os.environ.get("PERFAUDIT_PG_DB", "perfaudit") + "_inner"
    )
    # MariaDB/MySQL would not refuse: the inner run would drop the outer one's.
    monkeypatch.setenv(
        "PERFAUDIT_MYSQL_DB", os.environ.get("PERFAUDIT_MYSQL_DB", "perfaudit") + "_inner"
    )
    monkeypatch.delenv("PERFAUDIT_UPDATE", raising=False)
    pytester.makeconftest(CONFTEST)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "pytest_django", "-p", "no:cacheprovider", *args)


def test_markers_fail_with_perfaudit_messages(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_markers=N_PLUS_ONE
        + """
import pytest

@pytest.mark.max_queries(2)
def test_too_many(books):
    loop()

@pytest.mark.max_queries(4)
def test_enough(books):
    loop()

@pytest.mark.no_n_plus_one
def test_n_plus_one(books):
    loop()

@pytest.mark.no_n_plus_one
def test_fixed(books):
    list(Book.objects.select_related("author"))

@pytest.mark.max_queries(0)
def test_fixture_setup_is_not_counted(books):
    pass
"""
    )
    result = _run(inner)
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_markers.py:*: @pytest.mark.max_queries: Expected at most 2 queries on "
            "'default', ran 4.*",
            "*test_markers.py:*: @pytest.mark.no_n_plus_one: Expected no n_plus_one findings, "
            "found 1:*",
            '*`Book.author` is loaded one row at a time*add `select_related("author")`*',
        ]
    )
    # The failure points at the test, never into perfaudit's plugin.
    assert "pytest_plugin.py" not in result.stdout.str()


def test_bad_marker_usage_is_a_usage_error(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_bad="""
import pytest

@pytest.mark.max_queries("ten")
def test_x(db):
    pass
"""
    )
    result = _run(inner)
    result.stdout.fnmatch_lines(["*use @pytest.mark.max_queries(n) with an int n*"])
    assert result.ret != 0


def test_fixtures(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_fixtures=N_PLUS_ONE
        + """
import pytest

def test_assert_max_queries_passes(books, assert_max_queries):
    with assert_max_queries(4) as rec:
        loop()
    assert len(rec) == 4

def test_assert_max_queries_fails(books, assert_max_queries):
    with assert_max_queries(1):
        loop()

def test_scaling(db, assert_queries_do_not_scale):
    from tests.factories import BookFactory
    assert_queries_do_not_scale(BookFactory.create_batch, loop, sizes=(1, 4))

def test_perfaudit_fixture(books, perfaudit):
    with perfaudit.record() as rec:
        loop()
    perfaudit.assert_no_n_plus_one(rec)
"""
    )
    result = _run(inner)
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_assert_max_queries_fails*",
            "*Expected at most 1 queries on 'default', ran 4.*",
            "*Query count grows with the data: 2 at size 1, 5 at size 4.*",
        ]
    )


SNAPSHOT_TEST = """
from django.http import JsonResponse
from tests.testapp.models import Book

def test_books(books, payload_snapshot):
    titles = list(Book.objects.order_by("id").values_list("title", flat=True))
    payload_snapshot(JsonResponse({"titles": [t.split()[0] for t in titles], "n": len(titles)}),
                     queries=1)
"""


def test_payload_snapshot_lifecycle(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_snap=SNAPSHOT_TEST)
    index = inner.path / "__perfaudit__" / "test_snap.json"

    _run(inner).assert_outcomes(passed=1)  # created
    created = orjson.loads(index.read_bytes())
    assert list(created) == ["test_books"]
    assert created["test_books"]["queries"] == 1
    payload = orjson.loads(
        (inner.path / "__perfaudit__" / "test_snap" / "test_books.json").read_bytes()
    )
    assert payload == {"n": 3, "titles": ["Book", "Book", "Book"]}

    _run(inner).assert_outcomes(passed=1)  # matched

    inner.makepyfile(test_snap=SNAPSHOT_TEST.replace('"n": len(titles)', '"n": len(titles) + 1'))
    result = _run(inner)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Payload of 'test_books' changed*", "*First difference at $.n: snapshot 3, now 4*"]
    )
    assert orjson.loads(index.read_bytes()) == created  # not rewritten without asking

    _run(inner, "--perfaudit-update").assert_outcomes(passed=1)
    assert orjson.loads(index.read_bytes()) != created
    _run(inner).assert_outcomes(passed=1)


def test_snapshots_with_two_xdist_workers(inner: pytest.Pytester) -> None:
    tests = "\n".join(
        f"""
def test_{i}(db, payload_snapshot):
    payload_snapshot(JsonResponse({{"i": {i}}}), name="case-{i}")
"""
        for i in range(12)
    )
    inner.makepyfile(test_parallel="from django.http import JsonResponse\n" + tests)
    result = _run(inner, "-n", "2")
    result.assert_outcomes(passed=12)
    index = orjson.loads((inner.path / "__perfaudit__" / "test_parallel.json").read_bytes())
    assert sorted(index) == sorted(f"case-{i}" for i in range(12))


def test_mixin_failures_point_at_the_test_not_at_perfaudit(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_mixin=N_PLUS_ONE
        + """
from django.test import TestCase
from perfaudit.testing import PerfAuditTestMixin
from tests.factories import BookFactory

class Cheap(PerfAuditTestMixin, TestCase):
    def test_too_many(self):
        BookFactory.create_batch(3)
        with self.assertNumQueriesAtMost(1):
            loop()

    def test_n_plus_one(self):
        BookFactory.create_batch(3)
        self.assertNoNPlusOne(loop)
"""
    )
    result = _run(inner, "--tb=long")
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "Expected at most 1 queries on 'default', ran 4." in output
    assert "test_mixin.py" in output
    # No perfaudit frame in either traceback.
    assert "perfaudit/testing/" not in output


def test_external_call_and_cache_markers_and_fixture(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_side="""
import pytest
import requests
from django.core.cache import cache
from tests.http_service import serve

@pytest.mark.no_external_calls
def test_calls_out():
    with serve() as url:
        requests.get(url + "/ok", timeout=5)

@pytest.mark.no_external_calls
def test_stays_home():
    cache.get("k")

@pytest.mark.max_cache_calls(1)
def test_reads_twice():
    cache.get("user:7")
    cache.get("user:7")

@pytest.mark.max_cache_calls(2, alias="default")
def test_reads_within_limit():
    cache.get("user:7")
    cache.get("user:8")

def test_fixture(perfaudit):
    with perfaudit.assert_cache_calls_at_most(3):
        cache.set("a", 1)
    with perfaudit.assert_no_external_calls():
        pass
"""
    )
    result = _run(inner)
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_side.py:*: @pytest.mark.no_external_calls: Expected no outbound HTTP "
            "requests, made 1:*",
            "*1 × GET http://127.0.0.1:* from test_side.py:* (*ms; 200)*",
            "*test_side.py:*: @pytest.mark.max_cache_calls: Expected at most 1 cache call on "
            "all caches, made 2:*",
            "*[[]cache_repeat] The cache key `user:#`*",
        ]
    )
    assert "pytest_plugin.py" not in result.stdout.str()

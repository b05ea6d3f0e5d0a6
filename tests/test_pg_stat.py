"""report --pg-stat-statements: the database's statement statistics joined to the JSONL file.

The PostgreSQL tests need the server to preload pg_stat_statements (.ci/run
sets ``shared_preload_libraries`` and restarts the server when it does not);
each creates the extension in its own test database. The server is shared,
so nothing is reset: statements are filtered by the test database (``dbid``)
and counted before and after.
"""

from __future__ import annotations

import os
import re
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client, override_settings

from perfaudit.report.inventory import build_inventory, load_inventory
from perfaudit.report.pg_stat import build_pg_report, read_statements
from perfaudit.sql.shape import analyze
from perfaudit.web.store import get_store
from tests.factories import BookFactory

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
ON_POSTGRES = connection.vendor == "postgresql"
AUTHOR_LOOKUP = (
    "SELECT testapp_author.id, testapp_author.name FROM testapp_author "
    "WHERE testapp_author.id = ? LIMIT ?"
)


def _preloaded() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_preload_libraries")
        value = str(cursor.fetchone()[0])
    return "pg_stat_statements" in [part.strip() for part in value.split(",")]


@pytest.fixture
def pg_stat() -> None:
    """pg_stat_statements in the test database (the server must preload it)."""
    if not ON_POSTGRES:
        pytest.skip("pg_stat_statements is PostgreSQL's; run with PERFAUDIT_TEST_DB=postgres")
    if not _preloaded():
        message = (
            "the PostgreSQL server does not preload pg_stat_statements; .ci/run enables it "
            "(shared_preload_libraries = 'pg_stat_statements', then a restart)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def _calls() -> dict[str, int]:
    """Calls per fingerprint of this test database, as the report reads them."""
    _, rows = read_statements("default")
    calls: dict[str, int] = {}
    for query, n, _ms, _rows in rows:
        fingerprint = analyze(query).fingerprint
        calls[fingerprint] = calls.get(fingerprint, 0) + n
    return calls


def _evictions() -> int:
    """How many times the extension has evicted entries (pg_stat_statements_info)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT dealloc FROM pg_stat_statements_info")
        return int(cursor.fetchone()[0])


def _record(path: Path, urls: list[str], **perfaudit: Any) -> None:
    get_store().clear()
    with override_settings(
        MIDDLEWARE=MIDDLEWARE,
        PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(path), **perfaudit},
    ):
        client = Client()
        for url in urls:
            assert client.get(url).status_code == 200, url
    get_store().clear()


def report(*args: str) -> str:
    out = StringIO()
    call_command("perfaudit", "report", *args, stdout=out)
    return out.getvalue()


URLS = ["/mw/books/", "/mw/books/", "/mw/api/books/list/", "/mw/n/3/"]


@pytest.mark.django_db
@pytest.mark.usefixtures("pg_stat")
def test_statements_of_recorded_requests_are_matched_to_their_call_sites(tmp_path: Path) -> None:
    BookFactory.create_batch(5)
    path = tmp_path / "requests.jsonl"
    evicted = _evictions()
    before = _calls()
    _record(path, URLS)
    after = _calls()
    inventory = load_inventory(path)
    recorded = {shape.fingerprint: shape for shape in inventory.shapes}
    # The database ran each recorded shape exactly as often as perfaudit recorded it
    # (unless the extension evicted entries meanwhile, which a shared server does
    # when it is full: then an entry may have restarted from zero).
    exact = _evictions() == evicted
    for fingerprint, shape in recorded.items():
        if exact:
            ran = after.get(fingerprint, 0) - before.get(fingerprint, 0)
            assert ran == shape.count, fingerprint
        else:
            assert after.get(fingerprint, 0) > 0, fingerprint

    data = orjson.loads(
        report("--pg-stat-statements", "--from", str(path), "--format", "json", "--top", "0")
    )
    assert data["dbname"] == connection.settings_dict["NAME"]
    by_fingerprint = {shape["fingerprint"]: shape for shape in data["shapes"]}
    lookup = by_fingerprint[AUTHOR_LOOKUP]
    assert lookup["calls"] == after[AUTHOR_LOOKUP]
    assert lookup["recorded"]["count"] == recorded[AUTHOR_LOOKUP].count == 3 * 5
    assert lookup["recorded"]["views"] == {"mw:books": 10, "mw:api-book-list": 5}
    assert lookup["recorded"]["callsites"] == dict(recorded[AUTHOR_LOOKUP].callsites)
    assert any(
        site.startswith("tests/middleware_views.py:") for site in lookup["recorded"]["callsites"]
    )
    assert [f["kind"] for f in lookup["recorded"]["findings"]] == ["n_plus_one"]
    # Ranked by the database's execution time, with each shape's share of it.
    totals = [shape["total_ms"] for shape in data["shapes"]]
    assert totals == sorted(totals, reverse=True)
    # Each share is rounded to 4 places: the sum is off by at most half a unit per shape.
    rounding = 0.5e-4 * len(data["shapes"]) + 1e-9
    assert sum(shape["share"] for shape in data["shapes"]) == pytest.approx(1.0, abs=rounding)
    assert lookup["mean_ms"] == pytest.approx(lookup["total_ms"] / lookup["calls"], abs=1e-3)


@pytest.mark.django_db
@pytest.mark.usefixtures("pg_stat")
def test_shapes_no_recorded_request_explains_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    _record(path, ["/mw/n/2/"])
    with connection.cursor() as cursor:  # a cron job, a shell: not through the middleware
        for _ in range(20):  # not the least-used entry (see the next test)
            cursor.execute("SELECT count(*) FROM testapp_tag WHERE name <> %s", ["unseen"])
    unseen = analyze("SELECT count(*) FROM testapp_tag WHERE name <> %s").fingerprint

    data = orjson.loads(
        report("--pg-stat-statements", "--from", str(path), "--format", "json", "--top", "0")
    )
    unexplained = {shape["fingerprint"] for shape in data["unexplained"]}
    assert unseen in unexplained
    assert {s["fingerprint"] for s in data["shapes"] if s["recorded"] is None} == unexplained
    recorded = {s["fingerprint"] for s in data["shapes"] if s["recorded"] is not None}
    assert recorded == {shape.fingerprint for shape in load_inventory(path).shapes}

    text = report("--pg-stat-statements", "--from", str(path), "--top", "3")
    assert text.startswith(
        f"perfaudit report --pg-stat-statements: database {connection.settings_dict['NAME']!r}"
    )
    # A second read: on a shared server entries come and go in between (the
    # extension evicts the least-used when full), so the count is its own.
    unexplained_line = r"\nRun by the database, explained by no recorded request: \d+ shapes, "
    assert re.search(unexplained_line, text)


@pytest.mark.django_db
@pytest.mark.usefixtures("pg_stat")
def test_explain_works_on_the_database_ranking(tmp_path: Path) -> None:
    BookFactory.create_batch(3)
    path = tmp_path / "requests.jsonl"
    _record(path, ["/mw/books/"] * 5, JSONL_PARAMS=True)
    with connection.cursor() as cursor:
        # Run often enough not to be the least-used entry: on a server shared
        # with other suites, pg_stat_statements (5,000 entries by default)
        # evicts those first when it fills up.
        for _ in range(20):
            cursor.execute("SELECT count(*) FROM testapp_tag WHERE name <> %s", ["unseen"])
    unseen = analyze("SELECT count(*) FROM testapp_tag WHERE name <> %s").fingerprint
    # --explain N plans the first N of the database's ranking: every shape is
    # listed (--top 0) and N covers them all, in one read (the ranking is by
    # time and moves between two reads).
    data = orjson.loads(
        report(
            "--pg-stat-statements",
            "--from",
            str(path),
            "--format",
            "json",
            "--top",
            "0",
            "--explain",
            "10000",
        )
    )
    plans = {s["fingerprint"]: s["explain"] for s in data["shapes"]}
    assert len(plans) == len(data["shapes"]) == data["shapes_total"]
    assert plans[AUTHOR_LOOKUP]["status"] == "ok"
    assert any("testapp_author" in line for line in plans[AUTHOR_LOOKUP]["plan"])
    assert plans[unseen]["status"] == "skipped"
    assert "no recorded request ran this shape" in plans[unseen]["reason"]
    # And only the first N: with N = 2, the third shape has no plan.
    two = orjson.loads(
        report("--pg-stat-statements", "--from", str(path), "--format", "json", "--explain", "2")
    )["shapes"]
    assert [("explain" in shape) for shape in two[:3]] == [True, True, False]


@pytest.mark.django_db(databases=["default", "other"])
@pytest.mark.usefixtures("pg_stat")
def test_a_database_without_the_extension_says_how_to_enable_it(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text("")
    other = connections["other"].settings_dict["NAME"]
    with pytest.raises(CommandError) as caught:
        report("--pg-stat-statements", "--from", str(path), "--database", "other")
    message = str(caught.value)
    assert f"pg_stat_statements is not installed in database {other!r}" in message
    assert "the server already preloads it, so only CREATE EXTENSION is missing" in message
    assert f"CREATE EXTENSION pg_stat_statements; in database {other!r}" in message
    assert "\n" not in message


@pytest.mark.django_db
def test_other_databases_are_refused_with_one_line(tmp_path: Path) -> None:
    if ON_POSTGRES:
        pytest.skip("runs on SQLite and MariaDB: the PostgreSQL suite covers the rest")
    path = tmp_path / "requests.jsonl"
    path.write_text("")
    with pytest.raises(CommandError) as caught:
        report("--pg-stat-statements", "--from", str(path))
    assert str(caught.value) == (
        f"--pg-stat-statements needs PostgreSQL, but database 'default' is {connection.vendor} "
        f"({connection.settings_dict['ENGINE']}): pg_stat_statements is a PostgreSQL extension. "
        "Pass --database with a PostgreSQL alias."
    )
    assert caught.value.returncode == 2


# -- the join itself, on hand-made rows (any database) ---------------------------------


def _line(view: str, fingerprint: str, count: int, db_ms: float) -> dict[str, Any]:
    return {
        "view": view,
        "queries": count,
        "db_ms": db_ms,
        "total_ms": db_ms * 2,
        "shapes": [
            {
                "fingerprint": fingerprint,
                "count": count,
                "db_ms": db_ms,
                "sql": "x",
                "callsites": {"app/views.py:10 in index": count},
            }
        ],
    }


def test_statements_merge_into_shapes_ranked_by_execution_time() -> None:
    in_list = analyze("SELECT t.id FROM t WHERE t.id IN (%s, %s)").fingerprint
    inventory = build_inventory([_line("app:index", in_list, 4, 2.0)], "f.jsonl")
    rows = [
        ("SELECT t.id FROM t WHERE t.id IN ($1, $2)", 10, 30.0, 20),
        ("SELECT t.id FROM t WHERE t.id IN ($1, $2, $3)", 5, 20.0, 15),  # same shape
        ("UPDATE u SET n = $1 WHERE u.id = $2", 100, 150.0, 100),
        ("<insufficient privilege>", 3, 0.0, 0),
    ]
    report_ = build_pg_report("default", "db", rows, inventory)
    assert [s.fingerprint for s in report_.shapes][:2] == [
        "UPDATE u SET n = ? WHERE u.id = ?",
        in_list,
    ]
    (merged,) = [s for s in report_.shapes if s.fingerprint == in_list]
    assert (merged.calls, merged.total_ms, merged.statements, merged.rows) == (15, 50.0, 2, 35)
    assert merged.mean_ms == pytest.approx(50.0 / 15)
    assert merged.share == pytest.approx(50.0 / 200.0)
    assert merged.query == "SELECT t.id FROM t WHERE t.id IN ($1, $2)"  # the costlier entry
    assert merged.hotspot is not None
    assert merged.hotspot.callsites == {"app/views.py:10 in index": 4}
    assert [s.fingerprint for s in report_.unexplained] == [
        "UPDATE u SET n = ? WHERE u.id = ?",
        "<insufficient privilege>",
    ]
    assert report_.explained_share == pytest.approx(0.25)
    assert (report_.entries, report_.hidden) == (4, 1)

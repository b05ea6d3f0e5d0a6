"""``report --explain`` runs nothing but one plain SELECT, whatever the JSONL file says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from django.db import connection

from perfaudit.report.readonly import refusal
from tests.factories import TagFactory
from tests.test_report import needs_postgres, report_json
from tests.testapp.models import Tag

DELETE_ALL = 'DELETE FROM "testapp_tag"'

# Each is labelled "select" in the crafted file; none may reach the database.
CRAFTED = [
    f"SELECT 1; COMMIT; {DELETE_ALL}",
    f"SELECT 1;COMMIT;{DELETE_ALL};SELECT 1",
    f"SELECT 1 /* a comment */ ; COMMIT; {DELETE_ALL}",
    f"SELECT 1 /* nested /* */ ; COMMIT; {DELETE_ALL} */ ; COMMIT; {DELETE_ALL}",
    f"SELECT 'a'';' ; COMMIT; {DELETE_ALL}",
    f"SELECT E'\\''; COMMIT; {DELETE_ALL}; --'",
    f"SELECT $a$ $$ $a$; COMMIT; {DELETE_ALL}",
    f'WITH gone AS ({DELETE_ALL} RETURNING "id") SELECT "id" FROM gone',
    'WITH gone AS (UPDATE "testapp_tag" SET "name" = \'x\' RETURNING "id") SELECT 1',
    'SELECT "id" INTO "stolen" FROM "testapp_tag"',
    "SELECT dblink_exec('dbname=x', 'DELETE FROM testapp_tag')",
    "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
    "SELECT \"nextval\"('testapp_tag_id_seq')",
    "SELECT pg_advisory_lock(1)",
    "COMMIT",
    DELETE_ALL,
]


@pytest.mark.parametrize("sql", CRAFTED)
def test_refused(sql: str) -> None:
    reason = refusal(sql)
    assert reason is not None
    assert "\n" not in reason


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "testapp_tag"."id" FROM "testapp_tag" WHERE "testapp_tag"."name" = %s',
        "SELECT ';' AS semi, $$ ; COMMIT $$, \"a;b\" FROM t -- ; DELETE\n",
        "(SELECT 1) UNION (SELECT 2)",
        'SELECT "id" FROM "testapp_tag" FOR UPDATE',
        'SELECT "id" FROM "testapp_tag" FOR NO KEY UPDATE SKIP LOCKED',
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "VALUES (1), (2)",
        "SELECT a$b$ FROM t /* ; */",
    ],
)
def test_plain_selects_pass(sql: str) -> None:
    assert refusal(sql) is None


def _line(sql: str, **extra: Any) -> bytes:
    shape = {
        "fingerprint": f"fp {sql}",
        "kind": "select",  # what the file claims; never believed
        "count": 1,
        "db_ms": 5.0,
        "sql": sql,
        "param_count": 0,
        **extra,
    }
    line = {"v": 1, "view": "v", "queries": 1, "db_ms": 5, "total_ms": 6, "shapes": [shape]}
    return orjson.dumps(line) + b"\n"


def _rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "testapp_tag"')
        return int(cursor.fetchone()[0])


@needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("analyze", [False, True])
def test_crafted_jsonl_never_writes_to_postgresql(tmp_path: Path, analyze: bool) -> None:
    TagFactory.create_batch(3)
    before = _rows()
    path = tmp_path / "crafted.jsonl"
    path.write_bytes(b"".join(_line(sql) for sql in CRAFTED))
    args = ["--from", str(path), "--explain", str(len(CRAFTED)), "--top", "0"]
    data = report_json(*args, *(["--analyze"] if analyze else []))
    assert len(data["shapes"]) == len(CRAFTED)
    for shape in data["shapes"]:
        assert shape["explain"]["status"] == "skipped", shape
        assert "EXPLAIN runs on a single plain SELECT only" in shape["explain"]["reason"]
    assert _rows() == before == 3
    assert not Tag.objects.filter(name="x").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('stolen')")
        assert cursor.fetchone()[0] is None


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_bad_recorded_params_are_one_line_each(tmp_path: Path) -> None:
    sql = 'SELECT "id" FROM "testapp_tag" WHERE "name" = %s'
    path = tmp_path / "params.jsonl"
    path.write_bytes(
        _line(sql, params="x", fingerprint="a")
        + _line(sql, params=[], fingerprint="b", db_ms=4.0)
        + _line(sql, params={"1": 2}, fingerprint="c", db_ms=3.0)
    )
    data = report_json("--from", str(path), "--explain", "3")
    outcomes = {s["fingerprint"]: s["explain"] for s in data["shapes"]}
    assert outcomes["a"]["status"] == "skipped"
    assert outcomes["b"]["status"] == "error"
    assert outcomes["c"]["status"] == "error"
    assert all("\n" not in (o["reason"] or "") for o in outcomes.values())

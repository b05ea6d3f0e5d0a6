"""manage.py perfaudit report: the middleware's JSONL file as a hotspot inventory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings

from perfaudit.sql.shape import analyze
from perfaudit.web.store import get_store
from tests.factories import BookFactory, TagFactory
from tests.testapp.models import Tag

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
ROOT = Path(__file__).resolve().parent.parent
AUTHOR_LOOKUP = (
    "SELECT testapp_author.id, testapp_author.name FROM testapp_author "
    "WHERE testapp_author.id = ? LIMIT ?"
)
ON_POSTGRES = connection.vendor == "postgresql"
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="--explain runs EXPLAIN on PostgreSQL only; run with PERFAUDIT_TEST_DB=postgres",
)


@pytest.fixture(autouse=True)
def _clean_store() -> Iterator[None]:
    get_store().clear()
    yield
    get_store().clear()


def _record(path: Path, urls: list[str], **perfaudit: Any) -> None:
    """Run ``urls`` through the middleware, writing JSONL lines to ``path``."""
    with override_settings(
        MIDDLEWARE=MIDDLEWARE,
        PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(path), **perfaudit},
    ):
        client = Client()
        for url in urls:
            assert client.get(url).status_code == 200, url


URLS = [
    *["/mw/api/books/list/"] * 3,
    *["/mw/books/"] * 2,
    *["/mw/n/2/"] * 4,
    "/mw/books/search/?title=Book",
]


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    # Ten books: each list request's N+1 has 10 queries, so its severity is
    # "high" whatever the timings (below 10 it depends on the share of DB time).
    BookFactory.create_batch(10)
    path = tmp_path / "requests.jsonl"
    _record(path, URLS)
    return path


def report(*args: str) -> str:
    out = StringIO()
    call_command("perfaudit", "report", *args, stdout=out)
    return out.getvalue()


def report_json(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(report(*args, "--format", "json"))
    return data


# -- the inventory ------------------------------------------------------------------


@pytest.mark.django_db
def test_json_ranks_shapes_by_total_db_time_with_views_call_sites_findings(
    recorded: Path,
) -> None:
    data = report_json("--from", str(recorded))

    assert data["source"] == str(recorded)
    assert data["requests"] == len(URLS)
    totals = [shape["total_ms"] for shape in data["shapes"]]
    assert totals == sorted(totals, reverse=True)
    (lookup,) = [s for s in data["shapes"] if s["fingerprint"] == AUTHOR_LOOKUP]
    # Ten books: one author query per book, in 3 + 2 requests.
    assert (lookup["count"], lookup["requests"]) == (50, 5)
    assert lookup["views"] == {"mw:api-book-list": 30, "mw:books": 20}
    assert lookup["mean_ms"] == pytest.approx(lookup["total_ms"] / 50, abs=1e-3)
    assert sum(lookup["callsites"].values()) == 50
    assert any(site.startswith("tests/middleware_views.py:") for site in lookup["callsites"])
    (finding,) = lookup["findings"]
    assert (finding["kind"], finding["severity"], finding["requests"]) == ("n_plus_one", "high", 5)
    assert finding["fix"] == 'select_related("author")'
    assert "params" not in lookup


@pytest.mark.django_db
def test_json_views_table(recorded: Path) -> None:
    views = {view["view"]: view for view in report_json("--from", str(recorded))["views"]}

    assert set(views) == {"mw:api-book-list", "mw:books", "mw:n", "mw:book-search"}
    book_list = views["mw:api-book-list"]
    assert book_list["requests"] == 3
    assert (book_list["queries_p50"], book_list["queries_p95"], book_list["queries_max"]) == (
        11,
        11,
        11,
    )
    assert book_list["statuses"] == {"200": 3}
    assert book_list["findings"] == {"n_plus_one": 3}
    assert views["mw:book-search"]["findings"] == {}


@pytest.mark.django_db
def test_text_output_for_people(recorded: Path) -> None:
    text = report("--from", str(recorded))

    assert text.startswith("perfaudit report: 10 requests, 4 views, ")
    assert f"from {recorded}" in text.splitlines()[0]
    assert "Hotspots: query shapes by total DB time" in text
    assert f"      {AUTHOR_LOOKUP}\n" in text
    assert "views (queries): mw:api-book-list (30), mw:books (20)" in text
    assert "n_plus_one [high] in 5 requests: `Book.author` is loaded one row at a time" in text
    assert "Views by total DB time" in text
    (row,) = [line for line in text.splitlines() if line.strip().startswith("mw:api-book-list")]
    assert row.split()[:5] == ["mw:api-book-list", "3", "11", "11", "11"]


@pytest.mark.django_db
def test_markdown_output_from_the_same_data(recorded: Path) -> None:
    markdown = report("--from", str(recorded), "--format", "markdown")

    assert markdown.startswith("# perfaudit report\n\n10 requests, 4 views, ")
    assert "## Hotspots: query shapes by total DB time" in markdown
    assert "| # | total ms | count | mean ms | requests | kind | shape |" in markdown
    (row,) = [line for line in markdown.splitlines() if f"`{AUTHOR_LOOKUP}`" in line]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert (cells[2], cells[4], cells[5]) == ("50", "5", "select")
    assert "**n_plus_one** (high, 5 requests)" in cells[9]
    assert "## Views by total DB time" in markdown
    assert "| mw:api-book-list | 3 | 11 | 11 | 11 |" in markdown


@pytest.mark.django_db
def test_top_limits_the_shapes_listed(recorded: Path) -> None:
    data = report_json("--from", str(recorded), "--top", "1")
    assert len(data["shapes"]) == 1
    assert data["shapes_total"] > 1
    text = report("--from", str(recorded), "--top", "1")
    assert f"... {data['shapes_total'] - 1} more shapes (--top 0 lists all)" in text


@pytest.mark.django_db
def test_reads_jsonl_path_when_from_is_not_given(recorded: Path) -> None:
    with override_settings(PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(recorded)}):
        assert report_json()["requests"] == len(URLS)


def test_an_empty_file_is_an_empty_report(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n")
    text = report("--from", str(path))
    assert "0 requests, 0 views, 0 query shapes" in text
    assert "Nothing recorded yet" in text
    assert report_json("--from", str(path))["shapes"] == []


# -- errors: one line, exit code 2 ---------------------------------------------------------


def _error(*args: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        report(*args)
    assert info.value.returncode == 2
    assert "\n" not in str(info.value)
    return info.value


def test_error_when_there_is_no_file_to_read() -> None:
    assert str(_error()) == (
        "No JSONL file to report on: pass --from FILE.jsonl, or set "
        "PERFAUDIT['JSONL_PATH'] so the middleware writes one."
    )


def test_error_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert str(_error("--from", str(missing))) == f"Cannot report on {missing}: no such file"


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b'{"view": "v", "queries": 1', "not valid JSON"),
        (b'["a list"]', "not a perfaudit request line: expected a JSON object, got list"),
        (b'{"view": "v"}', "'queries' is missing or not a whole number"),
        (
            b'{"view": "v", "queries": 1, "db_ms": 1, "total_ms": 1, "shapes": [{"count": 1}]}',
            "shapes[0]['fingerprint'] is missing or not a string",
        ),
        (b'{"v": 99, "view": "v"}', "format version 99 is newer than this perfaudit reads (1)"),
    ],
)
def test_error_names_the_corrupt_line(tmp_path: Path, bad_line: bytes, reason: str) -> None:
    good = b'{"v": 1, "view": "v", "queries": 0, "db_ms": 0, "total_ms": 1, "shapes": []}\n'
    path = tmp_path / "requests.jsonl"
    path.write_bytes(good + b"\n" + good + bad_line + b"\n" + good)
    message = str(_error("--from", str(path)))
    assert message.startswith(f"Cannot report on {path}, line 4: ")
    assert reason in message


def test_analyze_needs_explain(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert str(_error("--from", str(path), "--analyze")) == (
        "--analyze only applies with --explain N."
    )


def test_the_command_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = subprocess.run(
        # --skip-checks: Django 6.1's model checks open a connection on MySQL, and the
        # suite's non-test database does not exist there.
        [
            *(sys.executable, "-m", "django", "perfaudit", "--skip-checks", "report"),
            *("--from", str(missing)),
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"CommandError: Cannot report on {missing}: no such file"


# -- --explain ------------------------------------------------------------------------------


@pytest.mark.skipif(ON_POSTGRES, reason="checks the refusal on a non-PostgreSQL database")
def test_explain_refuses_a_database_that_is_not_postgresql(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    message = str(_error("--from", str(path), "--explain", "3"))
    assert message.startswith(
        f"--explain needs PostgreSQL, but database 'default' is {connection.vendor} "
    )
    assert "--database" in message


def test_explain_refuses_an_unknown_alias(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    message = str(_error("--from", str(path), "--explain", "1", "--database", "nope"))
    assert message.startswith("Unknown database 'nope' for --explain")


def _line(*shapes: dict[str, Any]) -> bytes:
    line = {"v": 1, "view": "hand", "queries": 1, "db_ms": 9, "total_ms": 10, "shapes": shapes}
    return orjson.dumps(line) + b"\n"


def _shape(sql: str, db_ms: float, **extra: Any) -> dict[str, Any]:
    shape = {
        "fingerprint": analyze(sql).fingerprint,
        "kind": analyze(sql).kind,
        "count": 1,
        "db_ms": db_ms,
        "max_ms": db_ms,
        "sql": sql,
    }
    return {**shape, **extra}


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_explain_uses_recorded_params_and_says_why_it_cannot(tmp_path: Path) -> None:
    BookFactory.create_batch(3)
    path = tmp_path / "requests.jsonl"
    _record(path, ["/mw/books/", "/mw/books/search/?title=Book%201"], JSONL_PARAMS=True)
    with path.open("ab") as handle:
        handle.write(
            _line(
                _shape('INSERT INTO "testapp_tag" ("name") VALUES (%s)', 1000, param_count=1),
                _shape('SELECT "id" FROM "testapp_tag" WHERE "name" = %s', 999, param_count=1),
                _shape('SELECT "id" FROM "testapp_tag"', 998, alias="other", param_count=0),
            )
        )

    data = report_json("--from", str(path), "--explain", "10")

    outcomes = {shape["sql"]: shape["explain"] for shape in data["shapes"]}
    assert outcomes['INSERT INTO "testapp_tag" ("name") VALUES (%s)'] == {
        "status": "skipped",
        "reason": "not a SELECT (it starts with INSERT): EXPLAIN runs on a single plain "
        "SELECT only",
        "plan": [],
    }
    no_params = outcomes['SELECT "id" FROM "testapp_tag" WHERE "name" = %s']
    assert no_params["status"] == "skipped"
    assert "PERFAUDIT['JSONL_PARAMS'] = True" in no_params["reason"]
    other = outcomes['SELECT "id" FROM "testapp_tag"']
    assert other["reason"] == "recorded on database 'other'; pass --database other to EXPLAIN it"
    # The recorded requests: each statement planned with its own parameter values.
    recorded = [s for s in data["shapes"] if s["views"].keys() & {"mw:books", "mw:book-search"}]
    assert len(recorded) == 3
    for shape in recorded:
        assert shape["explain"]["status"] == "ok", shape
        assert any("Scan" in line for line in shape["explain"]["plan"])
        assert not any("actual time" in line for line in shape["explain"]["plan"])

    text = report("--from", str(path), "--explain", "2")
    assert "EXPLAIN skipped: not a SELECT (it starts with INSERT)" in text
    assert "EXPLAIN skipped: its parameter values were not recorded" in text
    markdown = report("--from", str(path), "--explain", "10", "--format", "markdown")
    assert "## EXPLAIN" in markdown
    assert "```text\n" in markdown


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_explain_analyze_never_writes(tmp_path: Path) -> None:
    TagFactory.create_batch(3)
    disguised = 'WITH gone AS (DELETE FROM "testapp_tag" RETURNING "id") SELECT "id" FROM gone'
    assert analyze(disguised).kind == "select"
    path = tmp_path / "requests.jsonl"
    path.write_bytes(_line(_shape(disguised, 5.0, param_count=0)))

    # perfaudit's own reading refuses the data-modifying CTE before any database sees it.
    (planned,) = report_json("--from", str(path), "--explain", "1")["shapes"]
    assert planned["explain"]["status"] == "skipped"
    assert "DELETE inside it may write" in planned["explain"]["reason"]
    (analyzed,) = report_json("--from", str(path), "--explain", "1", "--analyze")["shapes"]
    assert analyzed["explain"]["status"] == "skipped"

    assert Tag.objects.count() == 3
    TagFactory()  # the connection is writable again: nothing leaked out of the report
    assert Tag.objects.count() == 4


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_explain_analyze_runs_selects(tmp_path: Path) -> None:
    TagFactory.create_batch(2)
    path = tmp_path / "requests.jsonl"
    path.write_bytes(
        _line(_shape('SELECT "id" FROM "testapp_tag" WHERE "name" = %s', 1.0, params=["x"]))
    )
    (shape,) = report_json("--from", str(path), "--explain", "1", "--analyze")["shapes"]
    assert shape["explain"]["status"] == "ok"
    assert any("actual time" in line for line in shape["explain"]["plan"])


def test_markdown_escapes_html_like_call_sites_outside_code() -> None:
    from perfaudit.report.formats import _escape_html

    assert _escape_html("views.py:3 in make.<locals>.view (2)") == (
        "views.py:3 in make.&lt;locals&gt;.view (2)"
    )
    # Inside a code span the text is shown literally: left as is.
    assert _escape_html("use `<lambda>` a < b") == "use `<lambda>` a &lt; b"

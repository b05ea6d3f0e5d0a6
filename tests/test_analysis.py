"""The one Analysis of a recording, and every output agreeing with it.

The cross-output test runs one request through the middleware (store and
JSONL line), the toolbar panel's stats, an assertion's failure message, the
audit runner's JSON and the report's JSON, and checks that each shows the
numbers of ``recording.analysis``: query count, shapes and findings per kind.
"""

from __future__ import annotations

import re
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.test import Client, override_settings

import perfaudit
from perfaudit.audit import engine as audit_engine
from perfaudit.audit.formats import render
from perfaudit.capture import QueryEvent, Recording
from perfaudit.scenarios import Registry, Request
from perfaudit.testing.assertions import check_max_queries
from perfaudit.toolbar._stats import build_stats
from perfaudit.web.store import get_store
from tests.factories import BookFactory
from tests.testapp.models import Book

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
BOOK_LIST = "/testing/books/"


# -- units: one request at a time ---------------------------------------------------


@pytest.mark.django_db
def test_requests_inside_a_recording_are_its_units() -> None:
    books = BookFactory.create_batch(3)
    client = Client()
    with perfaudit.record() as rec:
        Book.objects.count()  # outside any request
        for book in books:
            assert client.get(f"/testing/books/{book.pk}/").status_code == 200
        Book.objects.count()

    labels = [span.label for span in rec.requests]
    assert labels == [f"GET /testing/books/{book.pk}/" for book in books]
    units = rec.analysis.units
    assert [u.label for u in units] == [None, *labels, None]
    assert [u.query_count for u in units] == [1, 1, 1, 1, 1]
    assert sum(u.query_count for u in units) == len(rec)


@pytest.mark.django_db
def test_one_query_per_request_is_neither_an_n_plus_one_nor_a_duplicate() -> None:
    books = BookFactory.create_batch(4)
    client = Client()
    with perfaudit.record() as varying:
        for book in books:  # a different row per request
            client.get(f"/testing/books/{book.pk}/")
    with perfaudit.record() as same:
        for _ in books:  # the same row in every request
            client.get(f"/testing/books/{books[0].pk}/")

    assert varying.analysis.findings == []
    assert same.analysis.findings == []
    # Judged as one block (no request boundaries) the same re-read would be a
    # duplicate: the split is what removes it. (The varying lookups are no N+1
    # even then: no query loaded the rows they are looked up for.)
    flat_varying = perfaudit.detect.run(Recording(varying.queries))
    flat_same = perfaudit.detect.run(Recording(same.queries))
    assert [f.kind for f in flat_varying] == []
    assert [f.kind for f in flat_same] == ["duplicate"]


@pytest.mark.django_db
def test_a_finding_names_the_request_it_was_found_in() -> None:
    BookFactory.create_batch(3)
    client = Client()
    with perfaudit.record() as rec:
        client.get("/testing/books/fixed/")
        client.get(BOOK_LIST)

    (finding,) = rec.analysis.findings
    assert finding.kind == "n_plus_one"
    assert finding.request == f"GET {BOOK_LIST}"
    assert finding.to_dict()["request"] == f"GET {BOOK_LIST}"


def test_hand_built_recordings_take_request_spans() -> None:
    events = [QueryEvent(f"SELECT {i}") for i in range(5)]
    rec = Recording(events, requests=[("GET /a/", 1, 3)])
    assert [(u.label, u.start, u.stop) for u in rec.analysis.units] == [
        (None, 0, 1),
        ("GET /a/", 1, 3),
        (None, 3, 5),
    ]


def test_the_analysis_is_cached_until_new_queries_run() -> None:
    rec = Recording([QueryEvent("SELECT 1")])
    assert rec.analysis is rec.analysis
    assert rec.analysis.query_count == 1


# -- every output agrees ----------------------------------------------------------


def _expected(rec: Recording) -> dict[str, Any]:
    analysis = rec.analysis
    return {
        "queries": analysis.query_count,
        "shapes": {(s.fingerprint, s.alias): s.count for s in analysis.shapes},
        "kinds": analysis.finding_counts(),
    }


def _from_dicts(
    queries: int, shapes: list[dict[str, Any]], findings: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "queries": queries,
        "shapes": {(s["fingerprint"], s.get("alias", "default")): s["count"] for s in shapes},
        "kinds": dict(Counter(f["kind"] for f in findings)),
    }


@pytest.mark.django_db(transaction=True)
def test_every_output_shows_the_numbers_of_the_one_analysis(tmp_path: Path) -> None:
    BookFactory.create_batch(4)
    jsonl = tmp_path / "requests.jsonl"
    get_store().clear()
    with override_settings(
        MIDDLEWARE=MIDDLEWARE, PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(jsonl)}
    ):
        with perfaudit.record() as rec:
            response = Client().get(BOOK_LIST)
    assert response.status_code == 200
    expected = _expected(rec)
    assert expected["kinds"] == {"n_plus_one": 1}
    assert expected["queries"] == 5

    # The middleware: its store and its JSONL line.
    stats = get_store().get("testing:book-list")
    assert stats is not None
    assert stats.queries_max == expected["queries"]
    (line,) = [orjson.loads(raw) for raw in jsonl.read_bytes().splitlines()]
    assert _from_dicts(line["queries"], line["shapes"], line["findings"]) == expected

    # The toolbar panel.
    panel = build_stats(rec, response, view="testing:book-list")
    assert _from_dicts(panel["query_count"], panel["groups"], panel["findings"]) == expected

    # An assertion's failure message: the count, each shape's count, each finding.
    with pytest.raises(AssertionError) as raised:
        check_max_queries(1, rec, "default")
    message = str(raised.value)
    assert f"ran {expected['queries']}." in message
    listed = {
        fingerprint: int(count)
        for count, fingerprint in re.findall(r"^ +(\d+) × (.+)$", message, flags=re.M)
    }
    assert listed == {fp: n for (fp, _), n in expected["shapes"].items()}
    kinds = Counter(re.findall(r"^  - \[(\w+), \w+\]", message, flags=re.M))
    assert dict(kinds) == expected["kinds"]

    # The report, from the middleware's JSONL file.
    out = StringIO()
    call_command("perfaudit", "report", "--from", str(jsonl), "--format", "json", stdout=out)
    inventory = orjson.loads(out.getvalue())
    assert inventory["requests"] == 1
    report_shapes = {s["fingerprint"]: s["count"] for s in inventory["shapes"]}
    assert report_shapes == {fp: n for (fp, _), n in expected["shapes"].items()}
    report_kinds: Counter[str] = Counter()
    for shape in inventory["shapes"]:
        for finding in shape["findings"]:
            report_kinds[finding["kind"]] += finding["findings"]
    assert dict(report_kinds) == expected["kinds"]

    # The audit runner's JSON, on the same data and request.
    registry = Registry()

    @registry.scenario("books", requests=[Request("GET", BOOK_LIST)])
    def books() -> None:
        BookFactory.create_batch(4)

    result = audit_engine.run(registry.all(), aliases=["default"])
    document = orjson.loads(render(result, "json", no_style()))
    (scenario,) = document["scenarios"]
    (request,) = scenario["requests"]
    audited = _from_dicts(request["queries"], request["shapes"], request["findings"])
    # Fresh data, fresh primary keys: the shapes and counts are what must agree.
    assert audited == expected

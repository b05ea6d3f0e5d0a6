"""The payload is the response as sent: status, content type, the body after rendering
and middlewares. Real views through the test client, on the suite's database."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from django.core.management.color import no_style
from django.test import Client, override_settings

from perfaudit.audit import engine as audit
from perfaudit.audit.formats import render
from perfaudit.capture import record
from perfaudit.checks import check_settings
from perfaudit.payload import (
    MISSING,
    Snapshot,
    digest,
    first_difference,
    judge,
    shorten,
    snapshot,
)
from perfaudit.scenarios import Registry
from perfaudit.testing.assertions import assert_payload_hash
from perfaudit.testing.snapshots import check_payload_snapshot
from tests.factories import BookFactory
from tests.wire_views import SECRET_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def books() -> None:
    for index in range(4):
        BookFactory(title=f"Book {index}")


def _get(client: Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code < 600
    return response


def test_a_renaming_renderer_is_a_change_though_response_data_is_equal(
    books: None, client: Client
) -> None:
    before = _get(client, "/wire/summary/")
    after = _get(client, "/wire/summary/renamed/")
    assert before.data == after.data  # what the old hash looked at
    a, b = digest(before, with_data=True), digest(after, with_data=True)
    assert a.data == b.data is not None  # the data figure explains...
    assert a.hash != b.hash  # ...the wire decides
    difference = first_difference(before, after)
    assert difference is not None
    assert (difference.path, difference.left, difference.right) == ("$.articlesCount", 4, MISSING)
    assert difference.count == 2  # gone here, appeared as $.articlesTotal


def test_a_camel_case_renderer_is_reported_at_the_first_wire_path(
    books: None, client: Client
) -> None:
    snake = _get(client, "/wire/summary/snake/")
    camel = _get(client, "/wire/summary/camel/")
    assert snake.data == camel.data
    difference = first_difference(snake, camel)
    assert difference is not None
    assert (difference.path, difference.left, difference.right) == ("$.articlesCount", MISSING, 4)
    assert b'"articlesCount":4' in camel.content


def test_a_middleware_that_adds_a_field_is_a_change(books: None, client: Client) -> None:
    before = _get(client, "/wire/summary/")
    with override_settings(MIDDLEWARE=["tests.wire_views.add_served_by"]):
        after = _get(Client(), "/wire/summary/")  # a new client loads the middleware
    assert before.data == after.data
    difference = first_difference(before, after)
    assert difference is not None
    assert (difference.path, difference.left, difference.right) == (
        "$.servedBy",
        MISSING,
        "edge-1",
    )
    assert digest(before).hash != digest(after).hash


def test_a_changed_status_code_with_the_same_body_is_a_change(books: None, client: Client) -> None:
    ok = _get(client, "/wire/summary/status/")
    failed = _get(client, "/wire/summary/status/?status=500")
    assert ok.content == failed.content
    a, b = digest(ok), digest(failed)
    assert a.canonical == b.canonical  # same body...
    assert a.hash != b.hash  # ...different response
    difference = first_difference(ok, failed)
    assert difference is not None
    assert (difference.path, difference.left, difference.right, difference.count) == (
        "status",
        200,
        500,
        1,
    )


def test_a_changed_content_type_is_a_change(books: None, client: Client) -> None:
    json_body = _get(client, "/wire/summary/status/")
    text_body = _get(client, "/wire/summary/text/")
    assert json_body.content == text_body.content
    difference = first_difference(json_body, text_body)
    assert difference is not None
    assert difference.path == "content-type"
    assert (difference.left, difference.right) == ("application/json", "text/plain")
    assert digest(json_body).hash != digest(text_body).hash


def test_a_drf_view_and_a_plain_view_with_the_same_wire_are_identical(
    books: None, client: Client
) -> None:
    drf = _get(client, "/wire/summary/")
    plain = _get(client, "/wire/summary/status/")  # json.dumps: other spacing
    assert drf.content != plain.content
    assert digest(drf).hash == digest(plain).hash
    assert first_difference(drf, plain) is None


def test_select_related_and_n_plus_one_with_the_same_wire_are_identical(
    books: None, client: Client
) -> None:
    with record() as slow:
        n_plus_one = _get(client, "/wire/books/n-plus-one/")
    with record() as fast:
        joined = _get(client, "/wire/books/select-related/")
    assert len(slow) > len(fast)  # built differently...
    assert n_plus_one.content != joined.content  # (another key order on the wire)
    assert digest(n_plus_one).hash == digest(joined).hash  # ...identical for the client
    assert first_difference(n_plus_one, joined) is None


def test_a_long_token_never_appears_whole_in_a_message(books: None, client: Client) -> None:
    assert len(SECRET_TOKEN) > 32
    before = _get(client, "/wire/summary/status/")
    other = SECRET_TOKEN[::-1]
    text = str(first_difference({"token": SECRET_TOKEN}, {"token": other}))
    assert SECRET_TOKEN not in text
    assert other not in text
    assert text.startswith("$.token: 'tok_…4a39' (44 chars, sha256:")
    assert SECRET_TOKEN not in str(first_difference(before, {"token": 1}))
    # pytest prints the repr of a failing comparison: shortened as well.
    assert SECRET_TOKEN not in repr(first_difference({"token": SECRET_TOKEN}, {}))
    # Inside containers and byte excerpts too.
    assert SECRET_TOKEN not in shorten({"a": [SECRET_TOKEN]})
    assert SECRET_TOKEN not in shorten(f'<input value="{SECRET_TOKEN}">'.encode())
    assert shorten("short value") == "'short value'"


def test_html_is_hashed_as_bytes_and_the_csrf_and_nonce_masks_prove_it_identical(
    books: None, client: Client
) -> None:
    first, second = _get(client, "/wire/form/"), _get(client, "/wire/form/")
    assert digest(first).kind == "bytes"
    assert digest(first).hash != digest(second).hash  # a new token and nonce each time
    difference = first_difference(first, second)
    assert difference is not None
    assert difference.offset is not None
    token = re.search(rb'value="([^"]+)"', first.content)
    assert token is not None
    assert token.group(1).decode() not in str(difference)

    masked = digest(first, ignore_text=["csrf", "nonce"])
    assert masked.masked == 2
    assert masked.hash == digest(second, ignore_text=["csrf", "nonce"]).hash
    assert first_difference(first, second, ignore_text=["csrf", "nonce"]) is None
    # The rest of the page still counts.
    changed = _get(client, "/wire/form/?extra=1")
    found = first_difference(first, changed, ignore_text=["csrf", "nonce"])
    assert found is not None
    assert found.offset is not None
    assert b"var n = 4" in first.content
    assert found.right.startswith(b"5")

    with override_settings(PERFAUDIT={"PAYLOAD_IGNORE_TEXT": ["csrf", r'nonce="([^"]+)"']}):
        assert digest(first).hash == digest(second).hash


def test_malformed_text_masks_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match="has no capturing group"):
        digest(b"<p>x</p>", ignore_text="nonce=.*")
    with override_settings(PERFAUDIT={"PAYLOAD_IGNORE_TEXT": ["(unclosed"]}):
        (error,) = check_settings()
    assert error.id == "perfaudit.E004"
    assert "PAYLOAD_IGNORE_TEXT" in error.msg


def _snap(response: Any) -> Snapshot:
    return snapshot(response)[1]


def test_judge_sets_volatile_fields_aside_and_keeps_real_changes(
    books: None, client: Client
) -> None:
    def body(token: str, count: int) -> bytes:
        return f'{{"articlesCount":{count},"token":"{token}"}}'.encode()

    def run(token: str, count: int = 4, status: int = 200) -> Snapshot:
        from django.http import HttpResponse

        response = HttpResponse(body(token, count), status=status, content_type="application/json")
        return _snap(response)

    # The token moves within each ref; the count changes from base to head.
    verdict = judge([run("a1"), run("a2")], [run("b1", 5), run("b2", 5)])
    assert verdict.result == "different"
    assert verdict.volatile == ["$.token"]
    assert [(c.path, c.base, c.head) for c in verdict.changes] == [("$.articlesCount", 4, 5)]

    # Only the volatile token differs: identical, and the token is reported.
    same = judge([run("a1"), run("a2")], [run("b1"), run("b2")])
    assert (same.result, same.volatile, same.changes) == ("identical", ["$.token"], [])

    # A status change is a change, found first.
    status = judge([run("a"), run("a")], [run("a", status=500), run("a", status=500)])
    assert [c.path for c in status.changes] == ["status"]

    # Stable on both sides, different across: a change, nothing volatile.
    stable = judge([run("a"), run("a")], [run("b"), run("b")])
    assert (stable.result, stable.volatile) == ("different", [])

    # Wire snapshots survive the trip through JSON (the compare child sends them).
    snap = run("a")
    assert Snapshot.from_wire(snap.to_wire()) == snap


def test_judge_compares_html_piece_by_piece_around_volatile_tokens(
    books: None, client: Client
) -> None:
    base = [_snap(_get(client, "/wire/form/")) for _ in range(2)]
    head = [_snap(_get(client, "/wire/form/")) for _ in range(2)]
    verdict = judge(base, head)
    assert verdict.result == "identical"
    assert len(verdict.volatile) == 2  # the token and the nonce, by byte offset
    assert all(v.startswith("byte ") for v in verdict.volatile)
    changed = [_snap(_get(client, "/wire/form/?extra=1")) for _ in range(2)]
    different = judge(base, changed)
    assert different.result == "different"
    assert [(c.base, c.head) for c in different.changes] == [(b"4", b"5")]


JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.mark.django_db(transaction=True)
def test_audit_repeat_reports_a_jwt_exp_as_volatile_not_as_a_failure() -> None:
    registry = Registry()

    @registry.scenario("login", requests=["/wire/token/", "/wire/form/"])
    def login() -> None:
        BookFactory()

    started = time.monotonic()
    result = audit.run(registry.all(), repeat=2, aliases=["default"])
    # Both repeats ran within a fraction of a second; the re-check came a second later.
    assert time.monotonic() - started >= 1.0
    token, form = result.scenarios[0].requests
    assert token.ok, token.error
    assert token.volatile == ["$.token"]
    assert form.ok, form.error
    assert len(form.volatile) == 2
    assert all(v.startswith("byte ") for v in form.volatile)
    document = render(result, "json", no_style())
    assert '"volatile": [\n' in document
    text = render(result, "text", no_style())
    assert "payload volatile, ignored: $.token" in text
    markdown = render(result, "markdown", no_style())
    assert "#### Volatile payload fields (ignored)" in markdown
    for output in (document, text, markdown):
        assert JWT.search(output) is None


def test_snapshots_and_hash_assertions_see_a_status_change(
    books: None, client: Client, tmp_path: Any
) -> None:
    test_file = tmp_path / "test_summary.py"
    ok = _get(client, "/wire/summary/status/")
    assert check_payload_snapshot(test_file, "summary", ok).status == "created"
    assert check_payload_snapshot(test_file, "summary", ok).status == "matched"
    failed = _get(client, "/wire/summary/status/?status=500")
    mismatch = check_payload_snapshot(test_file, "summary", failed)
    assert mismatch.status == "mismatch"
    assert "Status: 200 → 500." in mismatch.message
    assert SECRET_TOKEN not in mismatch.message

    # A snapshot written before status and content type were hashed: the body decides.
    index = tmp_path / "__perfaudit__" / "test_summary.json"
    index.write_text(json.dumps({"summary": {"hash": digest(ok).canonical, "kind": "json"}}))
    assert check_payload_snapshot(test_file, "summary", failed).status == "matched"

    assert_payload_hash(ok, str(digest(ok).hash))
    with pytest.raises(AssertionError, match=r"is the hash of the body alone, which is unchanged"):
        assert_payload_hash(failed, str(digest(ok).canonical))
    with pytest.raises(AssertionError, match=r"status 500"):
        assert_payload_hash(failed, str(digest(ok).hash))

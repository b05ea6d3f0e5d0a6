"""perfaudit.payload: same data → same hash, and where it differs when it does not."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import gzip
import hashlib
import ipaddress
import json
import subprocess
import sys
import textwrap
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.response import SimpleTemplateResponse
from django.test import Client, override_settings
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.test import APIClient

from perfaudit.checks import check_settings
from perfaudit.payload import (
    IGNORED,
    MISSING,
    Difference,
    PayloadDigest,
    canonical_bytes,
    digest,
    first_difference,
    payload_hash,
)
from perfaudit.payload._jsonpath import (
    Descend,
    Index,
    Key,
    Wildcard,
    compile_pattern,
    format_path,
)
from tests.factories import BookFactory, TagFactory
from tests.testapp.models import Author, Book

TIMESTAMPS = ("$.results[*].fetched_at", "$.meta.generated_at")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def books() -> list[Book]:
    tags = [TagFactory(name=name) for name in ("sf", "classic", "prize")]
    created = []
    for index in range(6):
        book = BookFactory(
            title=f"Book {index}", published=datetime.date(1960 + index, 1 + index, 1)
        )
        book.tags.set(tags[: index % 4])
        created.append(book)
    created[5].published = None
    created[5].save()
    return created


@pytest.fixture
def api() -> APIClient:
    return APIClient()


# -- real views, real data ------------------------------------------------------


@pytest.mark.django_db
class TestViews:
    def test_drf_and_plain_django_views_with_the_same_data_hash_alike(
        self, books: list[Book], api: APIClient, client: Client
    ) -> None:
        drf = api.get("/payload/books/")
        plain = client.get("/payload/books/plain/")
        assert drf.status_code == plain.status_code == 200
        # Different key order and indentation on the wire...
        assert drf.content != plain.content
        assert b"\n  " in plain.content
        # ...same data once the timestamps (which differ by construction) are masked.
        left, right = digest(drf, ignore=TIMESTAMPS), digest(plain, ignore=TIMESTAMPS)
        assert left.kind == right.kind == "json"
        assert left.canonical == right.canonical
        assert left.raw == _sha(drf.content)
        assert right.raw == _sha(plain.content)
        assert left.raw != right.raw
        assert left.masked == right.masked == len(books) + 1
        assert first_difference(drf, plain, ignore=TIMESTAMPS) is None

    def test_response_data_and_its_rendered_bytes_hash_alike(
        self, books: list[Book], api: APIClient
    ) -> None:
        response = api.get("/payload/books/")
        from_data = digest(response)
        from_bytes = digest(response.content)
        assert from_data.canonical == from_bytes.canonical
        assert from_data.raw == from_bytes.raw == _sha(response.content)
        # Stored canonical bytes hash like the response they came from.
        assert digest(canonical_bytes(response)).canonical == from_data.canonical
        # response.data holds datetime objects; the canonical bytes hold DRF's text.
        fetched = response.data["results"][0]["fetched_at"]
        assert isinstance(fetched, datetime.datetime)
        text = fetched.isoformat().replace("+00:00", "Z")
        assert f'"fetched_at":"{text}"'.encode() in canonical_bytes(response)

    def test_one_changed_value_changes_the_hash_and_names_the_path(
        self, books: list[Book], api: APIClient
    ) -> None:
        before = api.get("/payload/books/")
        Author.objects.filter(pk=books[3].author_id).update(name="Renamed")
        after = api.get("/payload/books/")

        assert payload_hash(before, ignore=TIMESTAMPS) != payload_hash(after, ignore=TIMESTAMPS)
        difference = first_difference(before, after, ignore=TIMESTAMPS)
        assert difference == Difference(
            "$.results[3].author.name", books[3].author.name, "Renamed", 1
        )
        assert (
            str(difference) == f"$.results[3].author.name: {books[3].author.name!r} != 'Renamed'"
        )

    def test_a_missing_element_is_reported_at_its_index(
        self, books: list[Book], api: APIClient
    ) -> None:
        before = api.get("/payload/books/")
        Book.objects.filter(pk=books[-1].pk).delete()
        after = api.get("/payload/books/")

        difference = first_difference(before, after, ignore=TIMESTAMPS)
        assert difference is not None
        assert difference.path == "$.count"
        assert (difference.left, difference.right) == (6, 5)
        # count and the vanished element (the last index, missing on the right).
        assert difference.count == 2
        only_results = first_difference(
            before.data["results"], after.data["results"], ignore="$[*].fetched_at"
        )
        assert only_results is not None
        assert only_results.path == "$[5]"
        assert only_results.left["title"] == books[-1].title
        assert only_results.right is MISSING

    def test_timestamps_differ_without_masks(self, books: list[Book], api: APIClient) -> None:
        first, second = api.get("/payload/books/"), api.get("/payload/books/")
        assert digest(first).canonical != digest(second).canonical
        difference = first_difference(first, second)
        assert difference is not None
        # Sorted keys: "meta" comes before "results".
        assert difference.path == "$.meta.generated_at"
        assert difference.count == len(books) + 1

    @override_settings(PERFAUDIT={"PAYLOAD_IGNORE": list(TIMESTAMPS)})
    def test_masks_from_the_setting_make_timestamps_irrelevant(
        self, books: list[Book], api: APIClient
    ) -> None:
        first, second = api.get("/payload/books/"), api.get("/payload/books/")
        assert digest(first).canonical == digest(second).canonical
        assert digest(first).masked == len(books) + 1
        assert first_difference(first, second) is None
        body = canonical_bytes(first)
        assert body.count(f'"fetched_at":"{IGNORED}"'.encode()) == len(books)
        assert f'"meta":{{"generated_at":"{IGNORED}"}}'.encode() in body

    def test_per_call_masks_make_timestamps_irrelevant(
        self, books: list[Book], api: APIClient
    ) -> None:
        first, second = api.get("/payload/books/"), api.get("/payload/books/")
        assert payload_hash(first, ignore=TIMESTAMPS) == payload_hash(second, ignore=TIMESTAMPS)
        # Recursive descent reaches both fields wherever they sit.
        recursive = ["$..fetched_at", "$..generated_at"]
        assert payload_hash(first, ignore=recursive) == payload_hash(second, ignore=recursive)
        # Masks never touch the caller's data.
        assert isinstance(first.data["meta"]["generated_at"], datetime.datetime)

    @override_settings(PERFAUDIT={"PAYLOAD_IGNORE": ["$.meta.generated_at"]})
    def test_setting_and_per_call_masks_add_up(self, books: list[Book], api: APIClient) -> None:
        first, second = api.get("/payload/books/"), api.get("/payload/books/")
        difference = first_difference(first, second)
        assert difference is not None
        assert difference.path == "$.results[0].fetched_at"
        assert first_difference(first, second, ignore="$.results[*].fetched_at") is None

    def test_streaming_response_is_never_consumed(self, books: list[Book], client: Client) -> None:
        response = client.get("/payload/books/stream/")
        assert response.streaming
        result = digest(response)
        assert result == PayloadDigest(
            None,
            None,
            "streaming",
            "not hashable: streaming (StreamingHttpResponse); its content was not read",
            status=200,
            content_type="text/csv",
        )
        assert not result.hashable
        assert str(result) == "not hashable: streaming"
        with pytest.raises(ValueError, match="not hashable: streaming"):
            payload_hash(response)
        with pytest.raises(ValueError, match="Cannot compare the left payload"):
            first_difference(response, b"")
        # The client still receives every byte.
        expected = "id,title\n" + "".join(f"{b.pk},{b.title}\n" for b in books)
        assert b"".join(response.streaming_content) == expected.encode()

    def test_file_response_is_never_consumed(self, books: list[Book], client: Client) -> None:
        response = client.get("/payload/books/file/")
        result = digest(response)
        assert (result.kind, result.canonical, result.raw) == ("streaming", None, None)
        assert result.note is not None
        assert "FileResponse" in result.note
        expected = "id,title\n" + "".join(f"{b.pk},{b.title}\n" for b in books)
        assert b"".join(response.streaming_content) == expected.encode()

    def test_gzip_body_is_hashed_after_decoding(self, books: list[Book], client: Client) -> None:
        plain = client.get("/payload/books/plain/")
        zipped = client.get("/payload/books/gzip/", headers={"accept-encoding": "gzip"})
        assert zipped["Content-Encoding"] == "gzip"
        assert zipped.content[:2] == b"\x1f\x8b"

        result = digest(zipped, ignore=TIMESTAMPS)
        assert result.kind == "json"
        assert result.canonical == digest(plain, ignore=TIMESTAMPS).canonical
        assert result.raw == _sha(zipped.content)  # the wire bytes, compressed
        assert result.note == "Content-Encoding gzip decoded before hashing"
        assert canonical_bytes(zipped, ignore=TIMESTAMPS) == canonical_bytes(
            plain, ignore=TIMESTAMPS
        )

    def test_html_is_hashed_as_raw_bytes(self, books: list[Book], client: Client) -> None:
        response = client.get("/payload/books/html/")
        result = digest(response, ignore=TIMESTAMPS)
        assert result.kind == "bytes"
        assert result.canonical == result.raw == _sha(response.content)
        assert result.note is None
        assert canonical_bytes(response) == response.content
        assert b"<li>Book 0 by " in response.content

    def test_html_difference_points_at_the_first_differing_byte(
        self, books: list[Book], client: Client
    ) -> None:
        before = client.get("/payload/books/html/")
        Book.objects.filter(pk=books[1].pk).update(title="Book X")
        after = client.get("/payload/books/html/")
        difference = first_difference(before, after)
        assert difference is not None
        assert difference.offset == before.content.index(b"Book 1") + len(b"Book ")
        assert difference.left.startswith(b"1 by Author")
        assert difference.right.startswith(b"X by Author")
        assert str(difference).startswith(f"byte {difference.offset}: b'1 by Author")

    def test_unparsable_json_body_falls_back_to_raw_bytes(self, client: Client) -> None:
        response = client.get("/payload/broken/")
        result = digest(response)
        assert result.kind == "bytes"
        assert result.canonical == result.raw == _sha(b'{"results": [1, 2')
        assert result.note is not None
        assert result.note.startswith("body is not valid JSON (")
        assert result.note.endswith("); hashed as raw bytes")


# -- canonical bytes ------------------------------------------------------------


class TestCanonical:
    def test_key_order_and_whitespace_do_not_matter(self) -> None:
        a = {"b": 1, "a": {"y": [1, 2, {"k": None}], "x": "é"}}
        b = {"a": {"x": "é", "y": [1, 2, {"k": None}]}, "b": 1}
        assert (
            canonical_bytes(a)
            == canonical_bytes(b)
            == '{"a":{"x":"é","y":[1,2,{"k":null}]},"b":1}'.encode()
        )
        pretty = json.dumps(b, indent=4, ensure_ascii=True).encode()
        assert payload_hash(a) == payload_hash(pretty) == digest(JsonResponse(b)).canonical

    def test_list_order_and_number_types_do_matter(self) -> None:
        assert payload_hash([1, 2]) != payload_hash([2, 1])
        assert canonical_bytes([1, 1.0, True]) == b"[1,1.0,true]"
        difference = first_difference({"n": 1}, {"n": 1.0})
        assert difference == Difference("$.n", 1, 1.0, 1)
        assert first_difference({"n": 1}, {"n": True}) == Difference("$.n", 1, True, 1)

    @pytest.mark.parametrize(
        "value",
        [
            datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
            datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC),
            datetime.datetime(2024, 5, 6, 7, 8, 9, 1000, tzinfo=datetime.UTC),
            datetime.datetime(
                2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
            ),
            datetime.datetime(2024, 5, 6, 7, 8, 9),
            datetime.date(999, 1, 2),
            datetime.time(7, 8, 9, 10),
            datetime.timedelta(days=1, microseconds=5),
            decimal.Decimal("1.50"),
            decimal.Decimal("-0.000123"),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            ipaddress.ip_address("10.0.0.1"),
            ipaddress.ip_network("2001:db8::/32"),
            gettext_lazy("lazy text"),
            b"bytes",
            (1, "tuple"),
            {1: "int key", "2": "str key"},
            "\u2028 line separator, ✓, \U0001f600",
            2**64 - 1,
        ],
        ids=repr,
    )
    def test_values_are_rendered_as_drf_renders_them(self, value: Any) -> None:
        data = {"value": value, "list": [value]}
        rendered = JSONRenderer().render(data)
        assert canonical_bytes(data) == canonical_bytes(rendered)

    def test_decimals_become_numbers_like_drf_writes_them(self) -> None:
        # DRF's JSONEncoder writes float(Decimal): the client cannot see "1.50".
        assert canonical_bytes({"p": decimal.Decimal("1.50")}) == b'{"p":1.5}'
        # A serializer's DecimalField already holds a string, and stays one.
        assert canonical_bytes({"p": "1.50"}) == b'{"p":"1.50"}'
        assert payload_hash({"p": "1.50"}) != payload_hash({"p": decimal.Decimal("1.50")})

    def test_utc_datetimes_end_with_z_and_keep_microseconds(self) -> None:
        value = datetime.datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=datetime.UTC)
        assert canonical_bytes([value]) == b'["2024-01-02T03:04:05.000600Z"]'

    def test_integers_beyond_64_bits_keep_their_digits(self) -> None:
        assert canonical_bytes({"n": 2**70}) == b'{"n":1180591620717411303424}'
        # Masks work on a parsed copy: the digits survive that too.
        assert canonical_bytes({"n": -(2**70)}, ignore="$.x") == b'{"n":-1180591620717411303424}'
        # A JSON body is parsed by orjson, which reads them as floats (documented).
        assert canonical_bytes(b'{"n":1180591620717411303424}') == b'{"n":1.1805916207174113e+21}'

    def test_unserialisable_data_raises_type_error(self) -> None:
        with pytest.raises(TypeError, match="not JSON serializable: object"):
            canonical_bytes({"x": object()})

    def test_bare_bytes_are_json_when_they_parse(self) -> None:
        assert digest(b'{"b": 2, "a": 1}').kind == "json"
        assert canonical_bytes(b'{"b": 2, "a": 1}') == b'{"a":1,"b":2}'
        csv = b"id,title\n1,Dune\n"
        result = digest(csv)
        assert (result.kind, result.canonical, result.raw) == ("bytes", _sha(csv), _sha(csv))
        assert result.note is not None
        assert result.note.startswith("not JSON (")
        assert canonical_bytes(csv) == csv
        assert digest(memoryview(b"[1, 2]")).canonical == payload_hash([1, 2])

    def test_drf_response_before_rendering_is_not_hashed_from_its_data(self) -> None:
        # response.data is not what the client receives: the renderer is.
        response = Response({"b": [1, 2], "a": decimal.Decimal("2.5")})
        result = digest(response)
        assert (result.kind, result.canonical, result.raw, result.hash) == (
            "unrendered",
            None,
            None,
            None,
        )
        assert not response.is_rendered

    def test_unrendered_template_response_is_not_rendered(self) -> None:
        response = SimpleTemplateResponse("missing.html", {})
        result = digest(response)
        assert (result.kind, result.canonical, result.raw) == ("unrendered", None, None)
        assert not response.is_rendered

    def test_json_charset_is_honoured(self) -> None:
        body = '{"name": "Müller"}'.encode("latin-1")
        response = HttpResponse(body, content_type="application/json; charset=iso-8859-1")
        assert digest(response).canonical == payload_hash({"name": "Müller"})

    def test_vendor_json_content_type_is_json(self) -> None:
        response = HttpResponse(b'{"b":1,"a":2}', content_type="application/vnd.api+json")
        assert digest(response).kind == "json"

    def test_deflate_is_decoded_and_unknown_encodings_are_hashed_as_sent(self) -> None:
        body = b'{"b": 1, "a": 2}'
        deflated = HttpResponse(zlib.compress(body), content_type="application/json")
        deflated["Content-Encoding"] = "deflate"
        assert digest(deflated).canonical == payload_hash({"a": 2, "b": 1})

        brotli = HttpResponse(b"\x0b\x02\x80opaque", content_type="application/json")
        brotli["Content-Encoding"] = "br"
        result = digest(brotli)
        assert (result.kind, result.canonical) == ("bytes", result.raw)
        assert result.note is not None
        assert "'br' is not decoded" in result.note

    def test_corrupt_gzip_is_hashed_as_sent(self) -> None:
        response = HttpResponse(gzip.compress(b"[1]")[:-6], content_type="application/json")
        response["Content-Encoding"] = "gzip"
        result = digest(response)
        assert (result.kind, result.canonical) == ("bytes", _sha(response.content))
        assert result.note is not None

    def test_json_too_deep_to_canonicalise_is_hashed_as_sent(self) -> None:
        body = b"[" * 300 + b"]" * 300
        result = digest(HttpResponse(body, content_type="application/json"))
        assert (result.kind, result.canonical) == ("bytes", _sha(body))
        assert result.note == "cannot canonicalise (Recursion limit reached); hashed as raw bytes"

    def test_a_drf_response_is_hashed_from_its_rendered_body_whatever_its_data(self) -> None:
        response = Response({"x": object()})
        response.content = b"<p>rendered by some other renderer</p>"
        result = digest(response, with_data=True)
        assert (result.kind, result.canonical) == ("bytes", _sha(response.content))
        assert result.data is None  # data that cannot be encoded has no data hash

    def test_empty_json_body_is_reported(self) -> None:
        result = digest(HttpResponse(b"", content_type="application/json", status=204))
        assert (result.kind, result.canonical, result.note) == ("bytes", _sha(b""), "empty body")

    def test_streaming_json_response_is_not_read(self) -> None:
        chunks = iter([b"[1,", b"2]"])
        response = StreamingHttpResponse(chunks, content_type="application/json")
        assert digest(response).kind == "streaming"
        assert b"".join(response) == b"[1,2]"


# -- masks ----------------------------------------------------------------------


class TestMasks:
    @pytest.mark.parametrize(
        ("pattern", "steps"),
        [
            ("$.results[*].updated_at", (Key("results"), Wildcard(), Key("updated_at"))),
            ("$..csrf_token", (Descend("csrf_token"),)),
            ("$.meta.generated_at", (Key("meta"), Key("generated_at"))),
            ("$.items[0].x", (Key("items"), Index(0), Key("x"))),
            ("$.items[-1]", (Key("items"), Index(-1))),
            ("$['odd key'][\"q\"]", (Key("odd key"), Key("q"))),
            ("$['it\\'s']", (Key("it's"),)),
            ("$.*.id", (Wildcard(), Key("id"))),
            ("$..['x-y']", (Descend("x-y"),)),
            ("$.content-type", (Key("content-type"),)),
        ],
    )
    def test_patterns_compile(self, pattern: str, steps: tuple[object, ...]) -> None:
        assert compile_pattern(pattern) == steps

    @pytest.mark.parametrize(
        ("pattern", "problem"),
        [
            ("", "must start with '$'"),
            ("results[*]", "must start with '$'"),
            ("$", "would mask the whole payload"),
            ("$.", "expected a member name after '.', found the end of the pattern"),
            ("$.results[*", "unclosed '['"),
            ("$.results[", "unclosed '['"),
            ("$.results[x]", "expected an index, '*' or a quoted name"),
            ("$['name]", "unclosed quote '"),
            ("$..", "expected a member name after '..'"),
            ("$..*", "'..*' would mask every value"),
            ("$..[0]", "recursive descent '..' must be followed by a member name"),
            ("$ .a", "unexpected ' '"),
            ("$.a b", "unexpected ' '"),
            ("$.a]", "unexpected ']'"),
        ],
    )
    def test_malformed_patterns_raise_value_error(self, pattern: str, problem: str) -> None:
        with pytest.raises(ValueError, match="Invalid mask pattern") as info:
            compile_pattern(pattern)
        message = str(info.value)
        assert repr(pattern) in message
        assert problem in message

    def test_malformed_per_call_mask_raises(self) -> None:
        with pytest.raises(ValueError, match=r"Invalid mask pattern '\$\.results\[\*'"):
            digest({"a": 1}, ignore=["$.results[*"])

    def test_masks_replace_values_wherever_they_match(self) -> None:
        data: dict[str, Any] = {
            "csrf_token": "t0",
            "form": {"csrf_token": "t1", "fields": [{"csrf_token": "t2", "name": "x"}]},
            "items": [{"x": 1, "y": 1}, {"x": 2, "y": 2}],
            "meta": {"generated_at": "now", "1": "int-like"},
        }
        masked = json.loads(
            canonical_bytes(data, ignore=["$..csrf_token", "$.items[-1].x", "$.meta.*"])
        )
        assert masked == {
            "csrf_token": IGNORED,
            "form": {"csrf_token": IGNORED, "fields": [{"csrf_token": IGNORED, "name": "x"}]},
            "items": [{"x": 1, "y": 1}, {"x": IGNORED, "y": 2}],
            "meta": {"generated_at": IGNORED, "1": IGNORED},
        }
        # The caller's data is untouched.
        assert data["form"]["fields"][0]["csrf_token"] == "t2"
        assert digest(data, ignore=["$..csrf_token", "$.items[-1].x", "$.meta.*"]).masked == 6

    def test_masks_match_keys_as_the_client_sees_them(self) -> None:
        # Non-str keys become JSON strings before masks run.
        assert canonical_bytes({1: "a", 2: "b"}, ignore="$['1']") == b'{"1":"<ignored>","2":"b"}'

    def test_masks_see_values_the_encoder_converts(self) -> None:
        @dataclasses.dataclass
        class Point:
            x: int
            stamp: str

        generator = ({"id": n, "stamp": f"t{n}"} for n in range(3))
        data = {"points": (Point(1, "a"), Point(2, "b")), "rows": generator}
        body = canonical_bytes(data, ignore=["$.points[*].stamp", "$.rows[*].stamp"])
        assert json.loads(body) == {
            "points": [{"x": 1, "stamp": IGNORED}, {"x": 2, "stamp": IGNORED}],
            "rows": [{"id": n, "stamp": IGNORED} for n in range(3)],
        }

    @pytest.mark.django_db
    def test_masks_reach_into_a_queryset_in_the_data(self) -> None:
        BookFactory.create_batch(2)
        data = {"books": Book.objects.order_by("pk").values("id", "title")}
        body = json.loads(canonical_bytes(data, ignore="$.books[*].title"))
        assert [book["title"] for book in body["books"]] == [IGNORED, IGNORED]
        assert canonical_bytes(data) == canonical_bytes(JSONRenderer().render(data))

    def test_a_mask_that_matches_nothing_changes_nothing(self) -> None:
        result = digest({"a": [1, 2]}, ignore=["$.b", "$.a[5]", "$.a.x", "$.a[*].y"])
        assert result.masked == 0
        assert result.canonical == payload_hash({"a": [1, 2]})

    def test_a_masked_field_missing_on_one_side_still_differs(self) -> None:
        difference = first_difference({"a": 1, "t": 5}, {"a": 1}, ignore="$.t")
        assert difference == Difference("$.t", IGNORED, MISSING, 1)

    @pytest.mark.parametrize(
        "parts",
        [["results", 3, "author", "name"], ["odd key", 0], ["it's", "a\\b"], ["", "1", "x.y"]],
    )
    def test_printed_paths_compile_back_as_masks(self, parts: list[str | int]) -> None:
        path = format_path(parts)
        data: Any = "leaf"
        for part in reversed(parts):
            data = [data] * (part + 1) if isinstance(part, int) else {part: data}
        tree = json.loads(canonical_bytes(data, ignore=path))
        for part in parts:
            tree = tree[part]
        assert tree == IGNORED

    def test_malformed_setting_is_a_system_check_error(self) -> None:
        with override_settings(PERFAUDIT={"PAYLOAD_IGNORE": ["$.ok", "$.results[*"]}):
            errors = check_settings()
        assert [error.id for error in errors] == ["perfaudit.E004"]
        assert "PAYLOAD_IGNORE" in errors[0].msg
        assert "'$.results[*'" in errors[0].msg
        assert "unclosed '['" in errors[0].msg

    def test_wrong_type_setting_is_still_e003(self) -> None:
        with override_settings(PERFAUDIT={"PAYLOAD_IGNORE": "$.a"}):
            errors = check_settings()
        assert [error.id for error in errors] == ["perfaudit.E003"]

    def test_malformed_setting_falls_back_to_no_masks_at_hash_time(self) -> None:
        with override_settings(PERFAUDIT={"PAYLOAD_IGNORE": ["no-dollar"]}):
            result = digest({"a": 1})
        assert result.canonical == _sha(b'{"a":1}')
        assert result.masked == 0


# -- first_difference -----------------------------------------------------------


class TestFirstDifference:
    def test_equal_payloads_have_no_difference(self) -> None:
        assert first_difference({"a": [1, {"b": 2}]}, b'{"a":[1,{"b":2}]}') is None

    def test_walk_is_in_sorted_key_order_and_counts_every_path(self) -> None:
        left = {"z": 1, "a": {"m": 1, "b": [1, 2, 3]}, "k": "same"}
        right = {"z": 2, "a": {"m": 2, "b": [1, 9]}, "k": "same", "new": True}
        difference = first_difference(left, right)
        # a.b[1] changed, a.b[2] missing on the right, a.m, new, z: 5 paths.
        assert difference == Difference("$.a.b[1]", 2, 9, 5)
        assert str(difference) == "$.a.b[1]: 2 != 9 (and 4 more differing paths)"
        extra = first_difference({"a": [1]}, {"a": [1, 2]})
        assert extra == Difference("$.a[1]", MISSING, 2, 1)

    def test_type_change_is_one_difference_at_its_path(self) -> None:
        difference = first_difference({"a": {"b": 1}}, {"a": [1]})
        assert difference == Difference("$.a", {"b": 1}, [1], 1)

    def test_odd_keys_are_printed_in_brackets(self) -> None:
        difference = first_difference({"x y": {"it's": 1}}, {"x y": {"it's": 2}})
        assert difference is not None
        assert difference.path == "$['x y']['it\\'s']"

    def test_json_against_bytes_is_one_difference_at_the_root(self) -> None:
        difference = first_difference({"a": 1}, HttpResponse(b"<h1>Server Error</h1>"))
        assert difference == Difference("$", {"a": 1}, b"<h1>Server Error</h1>", 1)

    def test_long_values_are_shortened_in_messages(self) -> None:
        difference = first_difference({"a": "x" * 500}, {"a": "y" * 500})
        assert difference is not None
        assert len(str(difference)) < 300
        assert difference.left == "x" * 500


# -- packaging ----------------------------------------------------------------


def test_payload_imports_and_works_without_drf() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["rest_framework"] = None  # any import of DRF now fails
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["perfaudit"])
        django.setup()
        import perfaudit
        from perfaudit.payload import digest
        from django.http import JsonResponse
        print(digest(JsonResponse({"b": 1, "a": 2})).canonical)
        assert "rest_framework.response" not in sys.modules
        """
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == _sha(b'{"a":2,"b":1}')

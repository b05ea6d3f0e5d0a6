"""Views for tests/test_payload.py: the same book list as DRF and as plain Django.

The two list views return the same data in different shapes on the wire (key
order, indentation, datetime precision), which is exactly what a canonical
hash must see through. ``fetched_at`` and ``meta.generated_at`` change on
every request, like real-world timestamps that masks exist for.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.gzip import gzip_page
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Book


class _AuthorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    author = _AuthorSerializer()
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    published = serializers.DateField(allow_null=True)
    fetched_at = serializers.SerializerMethodField()

    def get_fetched_at(self, book: Book) -> Any:
        # A datetime object in response.data: rendered by DRF's encoder.
        return timezone.now()


def _books() -> QuerySet[Book]:
    return Book.objects.select_related("author").prefetch_related("tags").order_by("pk")


class BookListView(APIView):
    """``{"count", "meta": {"generated_at"}, "results": [...]}`` through DRF."""

    def get(self, request: Request) -> Response:
        results = BookSerializer(_books(), many=True).data
        return Response(
            {"count": len(results), "results": results, "meta": {"generated_at": timezone.now()}}
        )


def book_list_plain(request: HttpRequest) -> JsonResponse:
    """The same data built by hand: keys in reverse order, indented, Django's encoder."""
    results = []
    for book in _books():
        results.append(
            {
                "fetched_at": timezone.now(),
                "published": book.published,
                "tags": [tag.name for tag in book.tags.all()],
                "author": {"name": book.author.name, "id": book.author.pk},
                "title": book.title,
                "id": book.pk,
            }
        )
    payload = {"meta": {"generated_at": timezone.now()}, "results": results, "count": len(results)}
    return JsonResponse(payload, json_dumps_params={"indent": 2})


book_list_gzip = gzip_page(book_list_plain)


def book_list_html(request: HttpRequest) -> HttpResponse:
    items = format_html_join(
        "\n", "<li>{} by {}</li>", ((b.title, b.author.name) for b in _books())
    )
    return HttpResponse(f"<ul>\n{items}\n</ul>\n")


def book_titles_csv() -> Iterator[bytes]:
    yield b"id,title\n"
    for book in _books():
        yield f"{book.pk},{book.title}\n".encode()


def book_list_streaming(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(book_titles_csv(), content_type="text/csv")


def book_list_file(request: HttpRequest) -> FileResponse:
    body = b"".join(book_titles_csv())
    return FileResponse(io.BytesIO(body), filename="books.csv", content_type="text/csv")


def broken_json(request: HttpRequest) -> HttpResponse:
    """A JSON content type over a body that is not JSON (a truncated write)."""
    return HttpResponse(b'{"results": [1, 2', content_type="application/json")

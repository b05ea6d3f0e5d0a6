"""Views for tests/test_middleware.py, test_store.py and test_report.py.

``n_queries`` / ``async_n_queries`` run exactly ``k`` queries, so a recorded
count can be matched to its own request (the concurrency tests). The book
views serialise authors one by one: a known N+1 for the detectors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Author, Book
from tests.testapp.serializers import BookSerializer

#: Chunks every streaming view sends, and what the test expects to receive.
STREAM_CHUNKS = [f"chunk {i:04d}\n".encode() for i in range(500)]
#: Appended to when a streaming body starts being consumed (not before!).
STREAM_EVENTS: list[str] = []


class ViewBoom(Exception):
    """The error ``boom`` raises: tests check this very object propagates."""


def n_queries(request: HttpRequest, k: int) -> JsonResponse:
    for i in range(k):
        Author.objects.filter(pk=-i).exists()
    return JsonResponse({"k": k})


async def async_n_queries(request: HttpRequest, k: int) -> JsonResponse:
    for i in range(k):
        await Author.objects.filter(pk=-i).aexists()
    return JsonResponse({"k": k})


def books(request: HttpRequest) -> JsonResponse:
    """A plain Django list: one query for the books, one per author (N+1)."""
    data = [{"id": b.pk, "author": b.author.name} for b in Book.objects.order_by("pk")]
    return JsonResponse({"results": data})


async def async_books(request: HttpRequest) -> JsonResponse:
    data = [
        {"id": b.pk, "author": (await Author.objects.aget(pk=b.author_id)).name}
        async for b in Book.objects.order_by("pk")
    ]
    return JsonResponse({"results": data})


def book_search(request: HttpRequest) -> JsonResponse:
    """Filters on a value from the query string (the JSONL privacy tests)."""
    title = request.GET.get("title", "")
    return JsonResponse({"count": Book.objects.filter(title=title).count()})


class BookAPIView(APIView):
    """DRF APIView with a nested serializer and no select_related: an N+1."""

    def get(self, request: Request) -> Response:
        return Response(BookSerializer(Book.objects.order_by("pk"), many=True).data)


class BookListAPIView(ListAPIView):  # type: ignore[type-arg]
    queryset = Book.objects.order_by("pk")
    serializer_class = BookSerializer


def _chunks() -> Iterator[bytes]:
    STREAM_EVENTS.append("started")
    # A query while streaming: after the middleware returned, so not recorded.
    Author.objects.exists()
    yield from STREAM_CHUNKS
    STREAM_EVENTS.append("finished")


def streaming(request: HttpRequest) -> StreamingHttpResponse:
    Author.objects.exists()
    return StreamingHttpResponse(_chunks(), content_type="text/plain")


async def _achunks() -> AsyncIterator[bytes]:
    STREAM_EVENTS.append("started")
    for chunk in STREAM_CHUNKS:
        yield chunk
    STREAM_EVENTS.append("finished")


async def async_streaming(request: HttpRequest) -> StreamingHttpResponse:
    await Author.objects.aexists()
    return StreamingHttpResponse(_achunks(), content_type="text/plain")


def boom(request: HttpRequest) -> HttpResponse:
    Author.objects.exists()
    raise ViewBoom("the view failed on its own")


async def async_boom(request: HttpRequest) -> HttpResponse:
    await Author.objects.aexists()
    raise ViewBoom("the async view failed on its own")


def timed(request: HttpRequest) -> HttpResponse:
    """Sets its own Server-Timing entry, which perfaudit must keep."""
    Author.objects.exists()
    response = HttpResponse("ok")
    response.headers["Server-Timing"] = 'cache;desc="hit"'
    return response


def unnamed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    Author.objects.exists()
    return HttpResponse("ok")

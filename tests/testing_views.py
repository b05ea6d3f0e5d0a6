"""Views for the test-API tests: a book list with an N+1, and its fix."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from rest_framework import generics

from tests.testapp.models import Book
from tests.testapp.serializers import BookSerializer


class BookList(generics.ListAPIView[Book]):
    """Nested author serializer over a bare queryset: one author query per book."""

    serializer_class = BookSerializer

    def get_queryset(self) -> QuerySet[Book]:
        return Book.objects.order_by("id")


class FixedBookList(BookList):
    def get_queryset(self) -> QuerySet[Book]:
        return Book.objects.select_related("author").order_by("id")


def book_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """One book by primary key: one query per request."""
    book = Book.objects.get(pk=pk)
    return JsonResponse({"id": book.pk, "title": book.title})


def book_titles(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"titles": list(Book.objects.order_by("id").values_list("title", flat=True))}
    )

"""Views for the django-debug-toolbar panel tests (tests/test_toolbar.py)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from tests.testapp.models import Author, Book

#: A string that would run in the browser if the panel rendered it unescaped.
MALICIOUS_PARAM = "<script>alert('param')</script>"
MALICIOUS_LITERAL = "<img src=x onerror=alert(1)>"


def show_toolbar(request: HttpRequest) -> bool:
    """``SHOW_TOOLBAR_CALLBACK`` for the tests: the test client has no INTERNAL_IPS address."""
    return True


def html_page(request: HttpRequest) -> HttpResponse:
    """An HTML page (the toolbar is inserted before ``</body>``) with one query."""
    Book.objects.exists()
    return HttpResponse("<html><body><p>books</p></body></html>")


def malicious(request: HttpRequest) -> HttpResponse:
    """A query whose SQL and parameters carry HTML: the panel must escape both."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s, '{MALICIOUS_LITERAL}'", [MALICIOUS_PARAM])
        cursor.fetchall()
    return HttpResponse("<html><body><p>ok</p></body></html>")


async def async_books(request: HttpRequest) -> JsonResponse:
    """The async ORM with an N+1: one query for the books, one per author."""
    data = [
        {"id": book.pk, "author": (await Author.objects.aget(pk=book.author_id)).name}
        async for book in Book.objects.order_by("pk")
    ]
    return JsonResponse({"results": data})


class ViewBoom(Exception):
    pass


def boom(request: HttpRequest) -> HttpResponse:
    Author.objects.exists()
    raise ViewBoom("raised by the view")


def cached_page(request: HttpRequest) -> HttpResponse:
    """An HTML page reading one cache key twice (a ``cache_repeat``)."""
    from django.core.cache import cache

    cache.get("user:7:menu")
    cache.get("user:7:menu")
    return HttpResponse("<html><body><p>menu</p></body></html>")

"""Views for the wire-identity tests: same ``response.data``, different bytes on the wire.

Each pair differs only where a real client would notice and ``response.data``
would not: a renderer that renames a key, a camelCase renderer, a middleware
that adds a field, a status code, a content type. ``books_n_plus_one`` and
``books_select_related`` are the opposite: built differently (N+1 against one
join), identical on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.html import format_html
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Book

#: Longer than 32 characters, so tests can prove it is never printed whole.
SECRET_TOKEN = "tok_4f9a1c2e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"


class _Summary(APIView):
    """``{"articlesCount": n, "token": ...}``: the data every variant below shares."""

    def get(self, request: Request) -> Response:
        return Response({"articlesCount": Book.objects.count(), "token": SECRET_TOKEN})


class _RenamingRenderer(JSONRenderer):
    """A renderer that renames a wire key: ``response.data`` keeps the old name."""

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, dict) and "articlesCount" in data:
            data = {("articlesTotal" if k == "articlesCount" else k): v for k, v in data.items()}
        return super().render(data, accepted_media_type, renderer_context)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


class _CamelCaseRenderer(JSONRenderer):
    """snake_case data, camelCase wire (what djangorestframework-camel-case does)."""

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return super().render(_camelise(data), accepted_media_type, renderer_context)


def _camelise(data: Any) -> Any:
    if isinstance(data, dict):
        return {_camel(str(k)): _camelise(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_camelise(v) for v in data]
    return data


class SummaryView(_Summary):
    renderer_classes = [JSONRenderer]


class SummaryRenamedView(_Summary):
    renderer_classes = [_RenamingRenderer]


class _SnakeSummary(APIView):
    def get(self, request: Request) -> Response:
        return Response({"articles_count": Book.objects.count(), "page_size": 10})


class SnakeSummaryView(_SnakeSummary):
    renderer_classes = [JSONRenderer]


class CamelSummaryView(_SnakeSummary):
    renderer_classes = [_CamelCaseRenderer]


def summary_status(request: HttpRequest) -> HttpResponse:
    """The same body as ``SummaryView``, with the status code taken from ``?status=``."""
    body = json.dumps({"articlesCount": Book.objects.count(), "token": SECRET_TOKEN})
    return HttpResponse(
        body, status=int(request.GET.get("status", 200)), content_type="application/json"
    )


def summary_text(request: HttpRequest) -> HttpResponse:
    """The same body as ``SummaryView``, served as ``text/plain``."""
    body = json.dumps({"articlesCount": Book.objects.count(), "token": SECRET_TOKEN})
    return HttpResponse(body, content_type="text/plain")


def add_served_by(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., Any]:
    """A middleware that rewrites JSON bodies, adding a field ``response.data`` never had."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if response.get("Content-Type", "").startswith("application/json"):
            data = json.loads(response.content)
            data["servedBy"] = "edge-1"
            response.content = json.dumps(data).encode()
        return response

    return middleware


class _BookSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.name")

    class Meta:
        model = Book
        fields = ["id", "title", "author"]


class BooksNPlusOne(APIView):
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        return Response(_BookSerializer(Book.objects.order_by("pk"), many=True).data)


class BooksSelectRelated(APIView):
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        rows = Book.objects.select_related("author").order_by("pk")
        # Built by hand, another key order: the wire JSON is what counts.
        return Response([{"title": b.title, "author": b.author.name, "id": b.pk} for b in rows])


def form_page(request: HttpRequest) -> HttpResponse:
    """An HTML page with a per-request CSRF token (as ``{% csrf_token %}`` writes it)
    and a CSP nonce, both new on every request."""
    nonce = secrets.token_urlsafe(16)
    count = Book.objects.count() + int(request.GET.get("extra", 0))
    html = format_html(
        '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<input name="q"></form><script nonce="{}">var n = {};</script>',
        get_token(request),
        nonce,
        count,
    )
    return HttpResponse(html)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(request: HttpRequest) -> HttpResponse:
    """A login response whose JWT expires in an hour, counted in whole seconds."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    claims = _b64(json.dumps({"sub": "alice", "exp": int(time.time()) + 3600}).encode())
    signature = _b64(hmac.new(b"key", f"{header}.{claims}".encode(), hashlib.sha256).digest())
    body = json.dumps({"user": "alice", "token": f"{header}.{claims}.{signature}"})
    return HttpResponse(body, content_type="application/json")

"""Views that spend time outside SQL: a third-party call, cache reads, a refill.

``SERVICE["url"]`` is the base URL of the test's HTTP server
(:mod:`tests.http_service`), set by the fixture that started it.
"""

from __future__ import annotations

from typing import Any

import httpx
import requests
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse

from tests.testapp.models import Author, Book

SERVICE: dict[str, Any] = {"url": None}


def payment(request: HttpRequest) -> JsonResponse:
    Author.objects.exists()
    answer = requests.get(f"{SERVICE['url']}/slow?ms=60&token=s3cret", timeout=5)  # side:http
    return JsonResponse({"paid": answer.json()["ok"]})


async def apayment(request: HttpRequest) -> JsonResponse:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{SERVICE['url']}/slow?ms=30", timeout=5)  # side:ahttp
    return JsonResponse({"paid": answer.json()["ok"]})


def profile(request: HttpRequest) -> JsonResponse:
    first = cache.get("profile:42")  # side:read1
    second = cache.get("profile:42")  # side:read2
    return JsonResponse({"same": first == second})


def refill(request: HttpRequest) -> JsonResponse:
    books = cache.get("books:all")  # side:miss
    if books is None:
        books = [b.title for b in Book.objects.order_by("title")]
        books += [a.name for a in Author.objects.order_by("name")]
        cache.set("books:all", books, 30)
    return JsonResponse({"books": books})


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"authenticated": request.user.is_authenticated})

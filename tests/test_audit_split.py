"""audit in-process: the cache/HTTP/CPU split and the middleware tax, per request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management.color import no_style
from django.test import override_settings

from perfaudit.audit import engine
from perfaudit.audit.formats import render
from perfaudit.audit.middleware_tax import timed_middleware
from perfaudit.scenarios import Registry
from tests import side_views
from tests.http_service import serve

STACK = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


@pytest.fixture
def service() -> Iterator[str]:
    with serve() as url:
        side_views.SERVICE["url"] = url
        yield url
        side_views.SERVICE["url"] = None


@pytest.fixture
def stack() -> Iterator[None]:
    with override_settings(
        MIDDLEWARE=STACK,
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        MESSAGE_STORAGE="django.contrib.messages.storage.cookie.CookieStorage",
    ):
        yield


def _audit(paths: list[str]) -> tuple[Any, dict[str, Any]]:
    registry = Registry()
    registry.scenario("side", requests=paths)(lambda: None)
    result = engine.run(registry.all(), repeat=3, aliases=["default"])
    return result, json.loads(render(result, "json", no_style()))


@pytest.mark.django_db(transaction=True)
def test_split_and_middleware_tax(service: str, stack: None) -> None:
    result, document = _audit(["/side/payment/", "/side/whoami/", "/mw/api/books/"])
    payment, whoami, api = document["scenarios"][0]["requests"]
    assert all(r["ok"] for r in (payment, whoami, api)), result.failures()

    assert payment["http_ms"] >= 60
    assert payment["http"]["calls"] == 1
    assert payment["cpu_ms"] is not None
    assert payment["cache_ms"] == 0
    assert [f["kind"] for f in payment["findings"]] == ["external_call"]

    names = [m["name"] for m in payment["middleware"]]
    assert names == STACK
    assert all(m["ms"] >= 0 for m in payment["middleware"])
    unused = {m["name"].rsplit(".", 1)[1]: m["unused"] for m in payment["middleware"]}
    assert unused["SessionMiddleware"] == "the session was never read"
    assert unused["AuthenticationMiddleware"] == "request.user was never evaluated"
    assert unused["CsrfViewMiddleware"] == "a GET request that used no CSRF token"
    assert unused["MessageMiddleware"] == "no message was read or added"
    assert unused["SecurityMiddleware"] is None

    used = {m["name"].rsplit(".", 1)[1]: m["unused"] for m in whoami["middleware"]}
    assert used["SessionMiddleware"] is None  # request.user read the session
    assert used["AuthenticationMiddleware"] is None
    api_tax = {m["name"].rsplit(".", 1)[1]: m["unused"] for m in api["middleware"]}
    assert api_tax["CsrfViewMiddleware"] == "the view is csrf_exempt"

    text = render(result, "text", no_style())
    assert "cache ms" in text
    assert "HTTP ms" in text
    assert "CPU ms" in text
    assert "Middleware tax (median ms per request; * = work the view never used)" in text
    assert "SessionMiddleware: the session was never read" in text
    assert "external_call" in text
    assert "(1 call)" in text
    markdown = render(result, "markdown", no_style())
    assert "| cache ms | HTTP ms | CPU ms |" in markdown
    assert "#### Middleware tax" in markdown


def test_the_users_middleware_setting_is_restored(stack: None) -> None:
    with timed_middleware() as paths:
        assert paths == STACK
        assert all(p.startswith("perfaudit.audit.middleware_tax.M") for p in settings.MIDDLEWARE)
    assert settings.MIDDLEWARE == STACK

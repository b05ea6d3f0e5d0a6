"""The middleware tax of a DRF view authenticated by a token: the session loaded for nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.http import HttpRequest
from django.test import override_settings
from django.urls import path
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from perfaudit.audit import engine
from perfaudit.audit.formats import render
from perfaudit.audit.middleware_tax import Tax, unused
from perfaudit.scenarios import Registry, Request


class HeaderToken(BaseAuthentication):
    """``X-Token: <username>``: a stand-in for a token scheme."""

    def authenticate(self, request: DRFRequest) -> tuple[Any, None] | None:
        name = request.headers.get("X-Token")
        if not name:
            return None
        return get_user_model().objects.get(username=name), None


class Orders(APIView):
    # Session first, as DEFAULT_AUTHENTICATION_CLASSES often has it: it reads
    # request.user, which loads the session, before the token succeeds.
    authentication_classes = [SessionAuthentication, HeaderToken]

    def get(self, request: DRFRequest) -> Response:
        return Response({"user": request.user.get_username()})


urlpatterns = [path("orders/", Orders.as_view())]

STACK = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@pytest.mark.django_db(transaction=True)
def test_a_token_authenticated_api_pays_for_the_session() -> None:
    registry = Registry()

    @registry.scenario("orders", requests=[Request("GET", "/orders/", headers={"X-Token": "ann"})])
    def orders() -> None:
        get_user_model().objects.create(username="ann")

    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=STACK,
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    ):
        result = engine.run(registry.all(), repeat=2, aliases=["default"])
    (request,) = json.loads(render(result, "json", no_style()))["scenarios"][0]["requests"]
    assert request["ok"], result.failures()
    reasons = {m["name"].rsplit(".", 1)[1]: m["unused"] for m in request["middleware"]}
    assert reasons == {
        "SessionMiddleware": "the session was loaded, but the view authenticated by HeaderToken",
        "CsrfViewMiddleware": "the view is csrf_exempt",
        "AuthenticationMiddleware": "the view authenticated by HeaderToken",
    }


def test_a_middleware_without_a_rule_is_never_called_unused() -> None:
    request = HttpRequest()
    request.method = "GET"
    assert unused("django.middleware.security.SecurityMiddleware", request, None) is None
    assert unused("django.middleware.csrf.CsrfViewMiddleware", None, None) is None


def test_costs_are_inside_minus_downstream_plus_hooks() -> None:
    tax = Tax(["a", "b"])
    tax.book[0][:] = [0.010, 0.008, 0.0]  # 2 ms of its own
    tax.book[1][:] = [0.008, 0.008, 0.001]  # nothing around the view, 1 ms in process_view
    assert tax.costs() == pytest.approx([2.0, 1.0])

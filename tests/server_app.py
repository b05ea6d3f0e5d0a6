"""WSGI and ASGI applications (and URLconf) for tests/test_servers.py.

``/stats/`` answers what the server's own in-process store holds, so the test
can check the store's aggregates after the deferred reporting has run.
"""

from __future__ import annotations

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

# First: both call django.setup(), which the URLconf's imports need.
wsgi = get_wsgi_application()
asgi = get_asgi_application()

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402

from perfaudit.web.store import get_store  # noqa: E402


def stats(request: HttpRequest) -> JsonResponse:
    store = get_store()
    return JsonResponse(
        {
            "dropped": store.dropped_requests,
            "views": {
                s.view: {"requests": s.requests, "queries_max": s.queries_max}
                for s in store.snapshot()
            },
        }
    )


urlpatterns = [
    path("stats/", stats, name="stats"),
    path("mw/", include("tests.middleware_urls")),
]

from __future__ import annotations

from django.urls import include, path

urlpatterns: list[object] = [
    path("payload/", include("tests.payload_urls")),
    path("mw/", include("tests.middleware_urls")),
    path("testing/", include("tests.testing_urls")),
    path("wire/", include("tests.wire_urls")),
    path("side/", include("tests.side_urls")),
    path("corpus/", include("tests.corpus_urls")),
]

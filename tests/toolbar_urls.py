"""URLconf of the toolbar tests: the test app's views, the toolbar's own views.

Used as ``ROOT_URLCONF`` (with ``override_settings``) only while
django-debug-toolbar is installed and enabled, since including
``debug_toolbar.urls`` imports the toolbar's panels.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from tests import toolbar_views

toolbar_patterns = [
    path("page/", toolbar_views.html_page, name="page"),
    path("cached/", toolbar_views.cached_page, name="cached"),
    path("malicious/", toolbar_views.malicious, name="malicious"),
    path("abooks/", toolbar_views.async_books, name="async-books"),
    path("boom/", toolbar_views.boom, name="boom"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("testing/", include("tests.testing_urls")),
    path("toolbar/", include((toolbar_patterns, "toolbar"))),
    path("__debug__/", include("debug_toolbar.urls")),
]

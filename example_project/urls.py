from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("example_project.events.urls")),
    # Log in to the browsable API (after `manage.py changepassword alice`).
    path("api-auth/", include("rest_framework.urls")),
]

if "debug_toolbar" in settings.INSTALLED_APPS:
    urlpatterns.append(path("__debug__/", include("debug_toolbar.urls")))

"""When django-debug-toolbar shows itself (only if it is installed and DEBUG is on)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def show_toolbar(request: HttpRequest) -> bool:
    """Like the toolbar's default, but never for Django's test client.

    ``manage.py perfaudit audit`` requests pages with the test client; the
    toolbar must not add its HTML (or its overhead) to what is measured.
    """
    if not settings.DEBUG or request.META.get("SERVER_NAME") == "testserver":
        return False
    return request.META.get("REMOTE_ADDR") in getattr(settings, "INTERNAL_IPS", ())

"""Settings of the example project.

Environment variables:

* ``DATABASE_URL``: ``postgres://user:password@host:port/name`` for
  PostgreSQL, ``sqlite:////absolute/path.sqlite3`` for another SQLite file.
  Unset: ``example_project/db.sqlite3``.
* ``EXAMPLE_VARIANT``: which version of the endpoints ``events/urls.py``
  serves: ``slow`` (default), the code as it drifted into trouble, or
  ``fixed``, the same endpoints after the three fixes (see docs/example.md).
* ``EXAMPLE_SCALE``: how many times the data set the audit scenarios load
  is multiplied (default 1: 60 events); ``manage.py seed --scale N`` is
  the same for the configured database.
* ``EXAMPLE_SIZE``: instead, the production-like data set of that size
  (``ci``, ``medium`` or ``large``; see ``events/bulk.py``) for the audit
  scenarios, as ``manage.py seed --size`` loads it.
* ``EXAMPLE_QUERY_LOG``: a folder; every query of every recorded request is
  written there at exit (see ``querylog.py``; ``demo.py --large`` uses it).
* ``DJANGO_DEBUG``: ``1`` (default) or ``0``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "example-project-not-a-secret"
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

EXAMPLE_VARIANT = os.environ.get("EXAMPLE_VARIANT", "slow")
if EXAMPLE_VARIANT not in ("slow", "fixed"):
    raise ImproperlyConfigured(
        f"EXAMPLE_VARIANT must be 'slow' or 'fixed', got {EXAMPLE_VARIANT!r}."
    )

EXAMPLE_SCALE = int(os.environ.get("EXAMPLE_SCALE", "1"))
EXAMPLE_SIZE = os.environ.get("EXAMPLE_SIZE", "")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "perfaudit",
    "example_project.events",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

if os.environ.get("EXAMPLE_QUERY_LOG"):
    MIDDLEWARE.insert(0, "example_project.querylog.QueryLogMiddleware")

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]


def database_from_url(url: str | None) -> dict[str, Any]:
    """A ``DATABASES`` entry from a ``postgres://`` or ``sqlite://`` URL."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no database.")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
        }
    if parts.scheme == "sqlite":
        # sqlite:///relative.sqlite3, sqlite:////absolute/path.sqlite3, sqlite://:memory:
        path = url[len("sqlite://") :]
        if path in ("", ":memory:", "/:memory:"):
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path[1:] or ":memory:"}
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with postgres:// or sqlite://, got {parts.scheme!r}."
    )


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

PERFAUDIT = {
    "SCENARIOS": ["example_project.events.scenarios"],
}

# django-debug-toolbar, when it is installed (pip install 'perfaudit[toolbar]').
if DEBUG and importlib.util.find_spec("debug_toolbar"):
    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    INTERNAL_IPS = ["127.0.0.1", "::1"]
    DEBUG_TOOLBAR_CONFIG = {"SHOW_TOOLBAR_CALLBACK": "example_project.toolbar.show_toolbar"}
    from debug_toolbar.settings import PANELS_DEFAULTS

    DEBUG_TOOLBAR_PANELS = [*PANELS_DEFAULTS, "perfaudit.toolbar.PerfAuditPanel"]

"""Settings for perfaudit's own test suite.

``PERFAUDIT_TEST_DB`` picks the database: ``sqlite`` (default) or
``postgres``. PostgreSQL is reached through ``PERFAUDIT_PG_HOST``,
``PERFAUDIT_PG_PORT``, ``PERFAUDIT_PG_USER`` and ``PERFAUDIT_PG_PASSWORD`` (defaults: 127.0.0.1,
5432, postgres, empty); ``PERFAUDIT_PG_DB`` names the databases (default
``perfaudit``: the suite creates ``test_perfaudit`` and ``test_perfaudit_other``),
so two suites can run side by side. Two aliases exist so multi-database capture
is tested: ``default`` and ``other``.
"""

from __future__ import annotations

import os

SECRET_KEY = "perfaudit-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "perfaudit",
    "tests.testapp",
]

_DB = os.environ.get("PERFAUDIT_TEST_DB", "sqlite")

if _DB == "sqlite":
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
elif _DB == "postgres":
    _pg = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PERFAUDIT_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("PERFAUDIT_PG_PORT", "5432"),
        "USER": os.environ.get("PERFAUDIT_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("PERFAUDIT_PG_PASSWORD", ""),
    }
    _name = os.environ.get("PERFAUDIT_PG_DB", "perfaudit")
    DATABASES = {
        "default": {**_pg, "NAME": _name},
        "other": {**_pg, "NAME": f"{_name}_other"},
    }
else:  # pragma: no cover - configuration error
    raise RuntimeError(f"PERFAUDIT_TEST_DB must be 'sqlite' or 'postgres', got {_DB!r}")

"""Settings for perfaudit's own test suite.

``PERFAUDIT_TEST_DB`` picks the database: ``sqlite`` (default), ``postgres``
or ``mysql`` (MariaDB or MySQL, through mysqlclient).

PostgreSQL is reached through ``PERFAUDIT_PG_HOST``, ``PERFAUDIT_PG_PORT``,
``PERFAUDIT_PG_USER`` and ``PERFAUDIT_PG_PASSWORD`` (defaults: 127.0.0.1, 5432,
postgres, empty); ``PERFAUDIT_PG_DB`` names the databases (default
``perfaudit``: the suite creates ``test_perfaudit`` and ``test_perfaudit_other``),
so two suites can run side by side.

MariaDB/MySQL is reached through ``PERFAUDIT_MYSQL_HOST``, ``PERFAUDIT_MYSQL_PORT``,
``PERFAUDIT_MYSQL_USER`` and ``PERFAUDIT_MYSQL_PASSWORD`` (defaults: 127.0.0.1,
3306, root, empty); ``PERFAUDIT_MYSQL_DB`` names the databases the same way
(default ``perfaudit``). The test databases are created as ``utf8mb4``.

Two aliases exist so multi-database capture is tested: ``default`` and ``other``.
"""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "perfaudit-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "perfaudit",
    "tests.testapp",
]

# The admin (tests/corpus_admin.py, the detector corpus's changelists) renders
# templates with these context processors. MIDDLEWARE stays empty: each test
# that needs sessions, auth or messages sets the stack it runs under, so the
# admin's checks for those middlewares are silenced here.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

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
elif _DB == "mysql":

    def _mysql(name: str) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("PERFAUDIT_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("PERFAUDIT_MYSQL_PORT", "3306"),
            "USER": os.environ.get("PERFAUDIT_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("PERFAUDIT_MYSQL_PASSWORD", ""),
            "NAME": name,
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }

    _name = os.environ.get("PERFAUDIT_MYSQL_DB", "perfaudit")
    DATABASES = {"default": _mysql(_name), "other": _mysql(f"{_name}_other")}
else:  # pragma: no cover - configuration error
    raise RuntimeError(f"PERFAUDIT_TEST_DB must be 'sqlite', 'postgres' or 'mysql', got {_DB!r}")

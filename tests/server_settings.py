"""Settings for the real servers of tests/test_servers.py (gunicorn, uvicorn).

``tests.settings`` plus: ``PerfAuditMiddleware``, headers on, the JSONL file
named by ``PERFAUDIT_SERVER_JSONL``, and a SQLite file of the server's own,
``PERFAUDIT_SERVER_DB``, whatever database the suite runs on: the suite's
SQLite databases live in its own memory, and 64 concurrent requests would
open 64 connections to a shared PostgreSQL server (Django's ASGI handler runs
each request's synchronous work in a thread of its own).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.server_app"
ALLOWED_HOSTS = ["127.0.0.1"]
MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
PERFAUDIT = {"HEADERS": True, "JSONL_PATH": os.environ["PERFAUDIT_SERVER_JSONL"]}
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["PERFAUDIT_SERVER_DB"]}
}

# Errors (a 500's traceback) on the server's stderr, which the test shows on failure.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "perfaudit": {"handlers": ["stderr"], "level": "WARNING"},
    },
}

"""Settings for the real servers of tests/test_servers.py (gunicorn, uvicorn).

``tests.settings`` plus: ``PerfAuditMiddleware``, headers on, the JSONL file
named by ``PERFAUDIT_SERVER_JSONL``, and the database named by
``PERFAUDIT_SERVER_DB`` (the test database the suite created, or a SQLite file
for the SQLite run, whose test database lives in the test process's memory).
Connections are kept per thread so 2,000 requests do not open 2,000 of them.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

ROOT_URLCONF = "tests.server_app"
ALLOWED_HOSTS = ["127.0.0.1"]
MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
PERFAUDIT = {"HEADERS": True, "JSONL_PATH": os.environ["PERFAUDIT_SERVER_JSONL"]}
DATABASES = {
    "default": {
        **DATABASES["default"],
        "NAME": os.environ["PERFAUDIT_SERVER_DB"],
        "CONN_MAX_AGE": 60,
    }
}

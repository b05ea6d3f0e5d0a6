"""Configure Django for a benchmark script, the way a user's project has it.

``INSTALLED_APPS`` contains ``"perfaudit"`` (so its ``AppConfig.ready()``
installs the capture hook on every connection, as in a real project) and this
``benchapp``; ``DEBUG`` is off; the database is a SQLite file in a temporary
directory, its tables created with ``migrate --run-syncdb``.
"""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.management import call_command


def configure(directory: str) -> None:
    """Set Django up with a fresh SQLite database file inside ``directory``."""
    settings.configure(
        DEBUG=False,
        SECRET_KEY="perfaudit-benchmarks-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["perfaudit", "benchapp"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(directory, "bench.sqlite3"),
            }
        },
    )
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)

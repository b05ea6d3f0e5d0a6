"""App configuration: registers the system checks and the capture hook."""

from __future__ import annotations

from django.apps import AppConfig


class PerfAuditConfig(AppConfig):
    name = "perfaudit"
    verbose_name = "perfaudit"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Importing registers the checks; installing the capture hook here means
        # connections opened later (other threads, sync_to_async) can be recorded.
        from perfaudit import capture, checks  # noqa: F401

        capture.install()

from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "example_project.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.AutoField"

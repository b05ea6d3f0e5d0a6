"""``manage.py seed``: load the fixed-seed example data into the configured database."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_project.events.factories import seed
from example_project.events.models import Event


class Command(BaseCommand):
    help = "Load the example data set (always the same rows) into the configured database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=int,
            default=1,
            help="Multiply events, attendees, tickets and reviews (default 1: 60 events).",
        )
        parser.add_argument(
            "--flush",
            action="store_true",
            help="Empty the database first (manage.py flush), so ids restart at 1.",
        )

    def handle(self, *args: Any, scale: int, flush: bool, **options: Any) -> None:
        if scale < 1:
            raise CommandError(f"--scale must be at least 1, got {scale}.")
        if flush:
            call_command("flush", interactive=False, verbosity=0)
        elif Event.objects.exists():
            raise CommandError(
                "The database already has events; run `manage.py seed --flush` to replace them."
            )
        counts = seed(scale=scale)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Seeded {summary}."))

"""``manage.py seed``: load the fixed-seed example data into the configured database."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_project.events import bulk
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
            "--size",
            choices=sorted(bulk.SIZES, key=bulk.SIZES.__getitem__),
            help="Instead: the production-like, skewed data set "
            + ", ".join(f"{name}: {n:,} events" for name, n in bulk.SIZES.items())
            + " (COPY on PostgreSQL; see events/bulk.py).",
        )
        parser.add_argument(
            "--events",
            type=int,
            help="The production-like data set with this many events (instead of --size).",
        )
        parser.add_argument(
            "--flush",
            action="store_true",
            help="Empty the database first (manage.py flush), so ids restart at 1.",
        )

    def handle(
        self,
        *args: Any,
        scale: int,
        size: str | None,
        events: int | None,
        flush: bool,
        **options: Any,
    ) -> None:
        if scale < 1:
            raise CommandError(f"--scale must be at least 1, got {scale}.")
        if size and events:
            raise CommandError("Give --size or --events, not both.")
        if events is not None and events < 10:
            raise CommandError(f"--events must be at least 10, got {events}.")
        if (size or events) and scale != 1:
            raise CommandError("--scale is for the small data set; --size/--events set the size.")
        if flush:
            call_command("flush", interactive=False, verbosity=0)
        elif Event.objects.exists():
            raise CommandError(
                "The database already has events; run `manage.py seed --flush` to replace them."
            )
        started = time.perf_counter()
        if size or events:
            counts = bulk.build(events or bulk.SIZES[str(size)])  # VACUUM ANALYZE included
        else:
            counts = seed(scale=scale)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        if size or events:
            summary += f" in {time.perf_counter() - started:.1f} s"
        self.stdout.write(self.style.SUCCESS(f"Seeded {summary}."))

"""``manage.py time_queries``: the event list's two expensive queries, slow vs fixed.

Times, on the configured (seeded) database, the paginator's ``COUNT(*)``
and the page query with its attendee count, as ``views.py`` and
``views_fixed.py`` build them. Median of ``--runs`` runs, in milliseconds,
ORM overhead included.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from time import perf_counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_project.events import views, views_fixed
from example_project.events.models import Event


def _median_ms(run: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = perf_counter()
        run()
        timings.append((perf_counter() - start) * 1000)
    return median(timings)


class Command(BaseCommand):
    help = "Time the event list's COUNT and page queries, slow vs fixed (seed the database first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tag", default="jazz", help="The tag filter (default: jazz).")
        parser.add_argument("--runs", type=int, default=21, help="Runs per query (default: 21).")

    def handle(self, *args: Any, tag: str, runs: int, **options: Any) -> None:
        if not Event.objects.exists():
            raise CommandError("No events: run `manage.py seed --scale 50` first.")
        self.stdout.write(f"{Event.objects.count()} events, tag={tag!r}, median of {runs} runs")
        for name, module in (("slow", views), ("fixed", views_fixed)):
            events = module.with_attendee_count(module.filter_by_tag(Event.objects.all(), tag))
            page = module.with_attendee_count(Event.objects.order_by("starts_at", "id"))[:10]
            count_ms = _median_ms(events.count, runs)
            page_ms = _median_ms(lambda page=page: list(page.all()), runs)
            self.stdout.write(
                f"{name:>5}: paginator COUNT {count_ms:7.1f} ms   "
                f"page of 10 with attendee_count {page_ms:7.1f} ms"
            )

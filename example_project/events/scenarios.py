"""What ``manage.py perfaudit audit`` requests: one scenario per endpoint.

Each set-up function runs in a fresh throwaway test database and loads the
fixed-seed data set (``EXAMPLE_SCALE`` times, or the production-like set of
``EXAMPLE_SIZE``), so every run sees the same rows and the payload hashes can
be compared between two versions of the code.
"""

from __future__ import annotations

from django.conf import settings

from example_project.events import bulk
from example_project.events.factories import seed as seed_small
from example_project.events.models import Event
from perfaudit.scenarios import Request, scenario


def seed() -> None:
    """The data set the settings ask for: ``EXAMPLE_SIZE``, else ``EXAMPLE_SCALE``."""
    size = getattr(settings, "EXAMPLE_SIZE", "")
    if size:
        if size not in bulk.SIZES:
            raise ValueError(f"EXAMPLE_SIZE must be one of {sorted(bulk.SIZES)}, got {size!r}")
        bulk.build(bulk.SIZES[size])
    else:
        seed_small(scale=settings.EXAMPLE_SCALE)


@scenario("event-list", requests=[Request("GET", "/api/events/", query={"tag": "jazz"})])
def event_list() -> None:
    """The first page of jazz events: ten events, their organizer, venue, tags and tickets."""
    seed()


@scenario("event-detail", requests=[Request("GET", "/api/events/{slug}/")])
def event_detail() -> dict[str, str]:
    """One event's page; its slug comes from the data."""
    seed()
    return {"slug": Event.objects.order_by("starts_at", "id").values_list("slug", flat=True)[0]}


@scenario("event-availability", requests=[Request("GET", "/api/events/{slug}/availability/")])
def event_availability() -> dict[str, str]:
    """An event's live seats from the ticketing partner, and its venue from the cache.

    The venue summary is cached as production would have it (warm), so every
    --repeat run makes the same queries; the seats are refreshed as the
    periodic task would (the fixed variant reads them from the cache).
    """
    from django.core.cache import cache

    from example_project.events.partner_views import (
        SUMMARY_TIMEOUT,
        refresh_availability,
        venue_summary_key,
    )

    seed()
    event = Event.objects.select_related("venue").order_by("starts_at", "id")[0]
    venue = event.venue
    summary = {"name": venue.name, "events": venue.events.count()}
    cache.set(venue_summary_key(venue.pk), summary, SUMMARY_TIMEOUT)
    refresh_availability(event.slug)
    return {"slug": event.slug}


@scenario("organizer-list", requests=["/api/organizers/"])
def organizer_list() -> None:
    """Every organizer with its number of events."""
    seed()


@scenario("my-tickets", requests=[Request("GET", "/api/me/tickets/", user="alice")])
def my_tickets() -> None:
    """The tickets of the signed-in attendee (alice holds four)."""
    seed()


@scenario("venue-page", requests=["/venues/"])
def venue_page() -> None:
    """A plain Django HTML page: every venue and its events."""
    seed()

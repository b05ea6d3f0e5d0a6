"""An endpoint whose time goes outside SQL: a partner's API and the cache.

``GET /api/events/<slug>/availability/`` returns an event's live seat count
from the ticketing partner (:mod:`example_project.partner`, ~40 ms away) and
its venue's summary from the cache. Two things perfaudit points at:

* the partner is called synchronously on every request (``external_call``):
  most of the request's wall time is spent waiting for it;
* the venue summary is read from the cache twice, once by the view and once
  by the helper that formats the answer (``cache_repeat``).

``event_availability_fixed`` (what ``EXAMPLE_VARIANT=fixed`` serves) reads the summary
once and the seats from the cache, where :func:`refresh_availability` (a
periodic task in production; the audit scenario's set-up here) puts them:
the request no longer waits for the partner, and returns the same payload.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404

from example_project import partner
from example_project.events.models import Event

SUMMARY_TIMEOUT = 300


def venue_summary_key(venue_id: int) -> str:
    return f"venue:{venue_id}:summary"


def venue_summary(event: Event) -> dict[str, Any]:
    """The venue's name and event count, from the cache (computed on a miss)."""
    key = venue_summary_key(event.venue_id)
    summary = cache.get(key)
    if summary is None:
        venue = event.venue
        summary = {"name": venue.name, "events": venue.events.count()}
        cache.set(key, summary, SUMMARY_TIMEOUT)
    return summary


def _answer(event: Event, seats: int) -> dict[str, Any]:
    summary = venue_summary(event)  # the second read of the same key
    return {"event": event.slug, "venue": summary["name"], "seats": seats}


def fetch_seats(slug: str) -> int:
    """Ask the partner (a synchronous HTTP request, ~40 ms)."""
    reply = requests.get(f"{partner.url()}/availability/{slug}", timeout=5)
    reply.raise_for_status()
    seats: int = reply.json()["seats"]
    return seats


def availability_key(slug: str) -> str:
    return f"availability:{slug}"


def refresh_availability(slug: str) -> None:
    """What a periodic task does: fetch the seats and cache them for the views."""
    cache.set(availability_key(slug), fetch_seats(slug), SUMMARY_TIMEOUT)


def event_availability(request: HttpRequest, slug: str) -> JsonResponse:
    if settings.EXAMPLE_VARIANT == "fixed":
        return event_availability_fixed(request, slug)
    event = get_object_or_404(Event.objects.select_related("venue"), slug=slug)
    venue_summary(event)  # warms the summary _answer reads again
    return JsonResponse(_answer(event, fetch_seats(event.slug)))


def event_availability_fixed(request: HttpRequest, slug: str) -> JsonResponse:
    event = get_object_or_404(Event.objects.select_related("venue"), slug=slug)
    summary = venue_summary(event)
    seats = cache.get(availability_key(event.slug))
    if seats is None:  # the refresh task has not run yet
        seats = fetch_seats(event.slug)
    return JsonResponse({"event": event.slug, "venue": summary["name"], "seats": seats})

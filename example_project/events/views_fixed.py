"""The endpoints of the events platform.

A paginated event list filtered by tag, an event's page, the organizers, the
signed-in attendee's tickets (JSON, Django REST framework) and a plain Django
HTML page of the venues.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Exists,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from rest_framework.decorators import api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from example_project.events.models import Event, Organizer, Review, Ticket, TicketType, Venue
from example_project.events.serializers_fixed import (
    EventSerializer,
    OrganizerSerializer,
    TicketSerializer,
)


class Pagination(PageNumberPagination):
    page_size = 10


def per_row(rows: QuerySet[Any], key: str, aggregate: Aggregate) -> Subquery:
    """``aggregate`` over the ``rows`` whose ``key`` is the outer row: a correlated subquery."""
    related = rows.filter(**{key: OuterRef("pk")}).order_by().values(key)
    return Subquery(related.annotate(value=aggregate).values("value"))


def count_per_row(rows: QuerySet[Any], key: str) -> Subquery:
    """How many of the ``rows`` have the outer row as ``key``: a correlated ``COUNT(*)``.

    Not grouped, so it returns one row, 0 included, and needs no ``Coalesce``:
    next to an aggregate annotation Django would add ``Coalesce(subquery)`` to
    the outer ``GROUP BY``, and PostgreSQL would run it once per joined row.
    And ``COUNT(*)``, not ``COUNT(id)``: the foreign key's index answers it
    alone (an index-only scan), where counting ``id`` reads every row.
    """
    related = rows.filter(**{key: OuterRef("pk")}).order_by()
    return Subquery(
        related.annotate(value=Func(template="COUNT(*)", output_field=IntegerField())).values(
            "value"
        )
    )


def events_for_listing() -> QuerySet[Event]:
    return Event.objects.prefetch_related(
        Prefetch(
            "organizer",
            Organizer.objects.annotate(event_count=count_per_row(Event.objects, "organizer")),
        ),
        Prefetch(
            "venue",
            Venue.objects.annotate(event_count=count_per_row(Event.objects, "venue")),
        ),
        "tags",
        Prefetch(
            "ticket_types",
            TicketType.objects.annotate(sold=count_per_row(Ticket.objects, "ticket_type")),
        ),
        Prefetch(
            "reviews",
            Review.objects.select_related("attendee").order_by("-created_at", "-id")[:1],
            to_attr="latest_reviews",
        ),
    ).annotate(
        ticket_count=count_per_row(Ticket.objects, "event"),
        review_count=count_per_row(Review.objects, "event"),
        average_rating=per_row(Review.objects, "event", Avg("rating")),
    )


def filter_by_tag(events: QuerySet[Event], tag: str) -> QuerySet[Event]:
    tagged = Event.tags.through.objects.filter(event=OuterRef("pk"), tag__slug=tag)
    return events.filter(Exists(tagged))


def with_attendee_count(events: QuerySet[Event]) -> QuerySet[Event]:
    attendees = per_row(Ticket.objects, "event", Count("attendee", distinct=True))
    return events.annotate(attendee_count=Coalesce(attendees, 0))


@api_view(["GET"])
def event_list(request: Request) -> Response:
    events = events_for_listing()
    tag = request.query_params.get("tag")
    if tag:
        events = filter_by_tag(events, tag)
    events = with_attendee_count(events)
    paginator = Pagination()
    page = paginator.paginate_queryset(events.order_by("starts_at", "id"), request)
    data = EventSerializer(page, many=True).data
    return paginator.get_paginated_response(data)


@api_view(["GET"])
def event_detail(request: Request, slug: str) -> Response:
    event = get_object_or_404(with_attendee_count(events_for_listing()), slug=slug)
    return Response(EventSerializer(event).data)


@api_view(["GET"])
def organizer_list(request: Request) -> Response:
    organizers = Organizer.objects.annotate(event_count=count_per_row(Event.objects, "organizer"))
    paginator = Pagination()
    page = paginator.paginate_queryset(organizers, request)
    data = OrganizerSerializer(page, many=True).data
    return paginator.get_paginated_response(data)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def my_tickets(request: Request) -> Response:
    tickets = Ticket.objects.filter(attendee__user=request.user).order_by("purchased_at", "id")
    tickets = tickets.select_related("event", "ticket_type")
    return Response(TicketSerializer(tickets, many=True).data)


def venue_list(request: HttpRequest) -> HttpResponse:
    """A plain Django page: every venue with its events, in one prefetch."""
    venues = Venue.objects.prefetch_related(
        Prefetch("events", queryset=Event.objects.order_by("starts_at", "id"))
    )
    return render(request, "events/venue_list.html", {"venues": venues})

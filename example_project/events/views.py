"""The endpoints of the events platform.

A paginated event list filtered by tag, an event's page, the organizers, the
signed-in attendee's tickets (JSON, Django REST framework) and a plain Django
HTML page of the venues.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from rest_framework.decorators import api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from example_project.events.models import Event, Organizer, Ticket, Venue
from example_project.events.serializers import (
    EventSerializer,
    OrganizerSerializer,
    TicketSerializer,
)


class Pagination(PageNumberPagination):
    page_size = 10


def events_for_listing() -> QuerySet[Event]:
    return Event.objects.all()


def filter_by_tag(events: QuerySet[Event], tag: str) -> QuerySet[Event]:
    return events.filter(tags__slug=tag).distinct()


def with_attendee_count(events: QuerySet[Event]) -> QuerySet[Event]:
    return events.annotate(attendee_count=Count("tickets__attendee", distinct=True))


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
    organizers = Organizer.objects.all()
    paginator = Pagination()
    page = paginator.paginate_queryset(organizers, request)
    data = OrganizerSerializer(page, many=True).data
    return paginator.get_paginated_response(data)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def my_tickets(request: Request) -> Response:
    tickets = Ticket.objects.filter(attendee__user=request.user).order_by("purchased_at", "id")
    return Response(TicketSerializer(tickets, many=True).data)


def venue_list(request: HttpRequest) -> HttpResponse:
    """A plain Django page: every venue with its events, in one prefetch."""
    venues = Venue.objects.prefetch_related(
        Prefetch("events", queryset=Event.objects.order_by("starts_at", "id"))
    )
    return render(request, "events/venue_list.html", {"venues": venues})

"""What the API returns for organizers, venues, events, reviews and tickets."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from example_project.events.models import Event, Organizer, Review, Tag, Ticket, TicketType, Venue


class OrganizerSerializer(serializers.ModelSerializer):
    event_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organizer
        fields = ("id", "name", "slug", "verified", "event_count")


class VenueSerializer(serializers.ModelSerializer):
    event_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Venue
        fields = ("id", "name", "city", "capacity", "event_count")


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ("slug", "name")


class TicketTypeSerializer(serializers.ModelSerializer):
    sold = serializers.IntegerField(read_only=True)
    available = serializers.SerializerMethodField()

    class Meta:
        model = TicketType
        fields = ("id", "name", "price", "quota", "sold", "available")

    def get_available(self, ticket_type: TicketType) -> int:
        return max(ticket_type.quota - ticket_type.sold, 0)


class ReviewSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="attendee.name")

    class Meta:
        model = Review
        fields = ("rating", "comment", "author", "created_at")


class EventSerializer(serializers.ModelSerializer):
    organizer = OrganizerSerializer()
    venue = VenueSerializer()
    tags = TagSerializer(many=True)
    ticket_types = TicketTypeSerializer(many=True)
    attendee_count = serializers.IntegerField(read_only=True)
    sold_out = serializers.SerializerMethodField()
    review_count = serializers.IntegerField(read_only=True)
    average_rating = serializers.SerializerMethodField()
    latest_review = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = (
            "id",
            "title",
            "slug",
            "starts_at",
            "organizer",
            "venue",
            "tags",
            "ticket_types",
            "attendee_count",
            "sold_out",
            "review_count",
            "average_rating",
            "latest_review",
        )

    def get_sold_out(self, event: Event) -> bool:
        quota = sum(ticket_type.quota for ticket_type in event.ticket_types.all())
        return bool(event.ticket_count >= quota)

    def get_average_rating(self, event: Event) -> float | None:
        average = event.average_rating
        return round(average, 2) if average is not None else None

    def get_latest_review(self, event: Event) -> dict[str, Any] | None:
        reviews = event.latest_reviews
        return ReviewSerializer(reviews[0]).data if reviews else None


class TicketSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event.title")
    starts_at = serializers.DateTimeField(source="event.starts_at")
    ticket_type = serializers.CharField(source="ticket_type.name")
    price = serializers.DecimalField(source="ticket_type.price", max_digits=8, decimal_places=2)

    class Meta:
        model = Ticket
        fields = ("code", "event", "starts_at", "ticket_type", "price", "purchased_at")

"""The events platform's schema.

Related models have a ``Meta.ordering`` so that ``obj.tags.all()`` and a
``prefetch_related("tags")`` list rows in the same order: the slow and the
fixed code must return byte-identical payloads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Organizer(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    email = models.EmailField()
    verified = models.BooleanField(default=False)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class Venue(models.Model):
    name = models.CharField(max_length=100)
    city = models.CharField(max_length=100)
    capacity = models.PositiveIntegerField()

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return f"{self.name}, {self.city}"


class Tag(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    organizer = models.ForeignKey(Organizer, on_delete=models.CASCADE, related_name="events")
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="events")
    tags = models.ManyToManyField(Tag, related_name="events", blank=True)
    starts_at = models.DateTimeField()
    description = models.TextField(blank=True)

    class Meta:
        # The event list is ordered by date: a real project has this index.
        indexes = (models.Index(fields=["starts_at", "id"], name="event_starts_at_id"),)

    def __str__(self) -> str:
        return self.title


class TicketType(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="ticket_types")
    name = models.CharField(max_length=50)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    quota = models.PositiveIntegerField()

    class Meta:
        ordering = ("price", "id")

    def __str__(self) -> str:
        return f"{self.event} – {self.name}"


class Attendee(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attendee",
    )
    name = models.CharField(max_length=100)
    email = models.EmailField()

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="tickets")
    ticket_type = models.ForeignKey(TicketType, on_delete=models.PROTECT, related_name="tickets")
    attendee = models.ForeignKey(Attendee, on_delete=models.CASCADE, related_name="tickets")
    code = models.CharField(max_length=20, unique=True)
    purchased_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.code


class Review(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="reviews")
    attendee = models.ForeignKey(Attendee, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.event}"

"""factory-boy factories and the fixed-seed data set.

``seed()`` always builds the same rows: the random generator factory-boy
uses is reseeded, every factory's sequence restarts at 0, timestamps count
from a fixed date and names come from the word lists below (not from Faker,
whose output changes between its versions). Same data, same payloads, on
every run and every machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import factory
import factory.random
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from example_project.events.models import (
    Attendee,
    Event,
    Organizer,
    Review,
    Tag,
    Ticket,
    TicketType,
    Venue,
)

SEED: Final = 20250301
START: Final = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)

TAGS: Final = [
    ("jazz", "Jazz"),
    ("rock", "Rock"),
    ("classical", "Classical"),
    ("electronic", "Electronic"),
    ("folk", "Folk"),
    ("theatre", "Theatre"),
    ("comedy", "Comedy"),
    ("family", "Family"),
]
ORGANIZERS: Final = [
    "Blue Note Collective",
    "Riverside Live",
    "Northern Lights Promotions",
    "Harbour Arts Trust",
    "Velvet Room Presents",
    "Open Air Society",
    "Little Theatre Company",
    "Midnight Frequency",
]
VENUES: Final = [
    ("The Cellar", "Lyon", 120),
    ("Grand Hall", "Leeds", 1800),
    ("Harbour Stage", "Porto", 650),
    ("Old Mill", "Ghent", 300),
    ("Glasshouse", "Aarhus", 900),
    ("Corner Club", "Bologna", 80),
]
FIRST_NAMES: Final = [
    "Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana",
    "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya",
]  # fmt: skip
LAST_NAMES: Final = [
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Greco", "Haas",
]  # fmt: skip
ADJECTIVES: Final = [
    "Late", "Electric", "Quiet", "Golden", "Midnight", "Open", "Velvet", "Wild",
    "Blue", "Northern",
]  # fmt: skip
NOUNS: Final = [
    "Session", "Night", "Matinee", "Sessions", "Revue", "Gathering", "Showcase",
    "Jam", "Encore", "Festival",
]  # fmt: skip
TICKET_TYPES: Final = [
    # name, (quota range), (price range in whole units)
    ("Student", (10, 40), (12, 20)),
    ("Standard", (30, 120), (25, 60)),
    ("VIP", (4, 20), (80, 150)),
]
COMMENTS: Final = [
    "Wonderful evening.",
    "Too loud at the back.",
    "Great sound, long queues.",
    "Would come again.",
    "",
]


def _rand() -> Any:
    return factory.random.randgen


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    slug = factory.Sequence(lambda n: TAGS[n % len(TAGS)][0])
    name = factory.Sequence(lambda n: TAGS[n % len(TAGS)][1])


class OrganizerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organizer

    name = factory.Sequence(lambda n: ORGANIZERS[n % len(ORGANIZERS)])
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    email = factory.LazyAttribute(lambda o: f"hello@{o.slug}.example")
    verified = factory.Sequence(lambda n: n % 3 != 2)


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Venue

    name = factory.Sequence(lambda n: VENUES[n % len(VENUES)][0])
    city = factory.Sequence(lambda n: VENUES[n % len(VENUES)][1])
    capacity = factory.Sequence(lambda n: VENUES[n % len(VENUES)][2])


class AttendeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attendee

    name = factory.Sequence(
        lambda n: (
            f"{FIRST_NAMES[n % len(FIRST_NAMES)]} "
            f"{LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        )
    )
    email = factory.Sequence(lambda n: f"attendee{n}@example.com")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    title = factory.Sequence(
        lambda n: f"{_rand().choice(ADJECTIVES)} {_rand().choice(NOUNS)} #{n + 1}"
    )
    slug = factory.LazyAttribute(lambda o: slugify(o.title))
    # Two events a day from the start date, at 18:00 and 21:00.
    starts_at = factory.Sequence(lambda n: START + timedelta(days=n // 2, hours=3 * (n % 2)))
    description = factory.LazyAttribute(lambda o: f"{o.title}: an evening to remember.")


class TicketTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketType

    name = "Standard"
    price = Decimal("25.00")
    quota = 100


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    code = factory.Sequence(lambda n: f"T{n + 1:06d}")
    purchased_at = START - timedelta(days=30)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    rating = factory.LazyFunction(lambda: _rand().randint(1, 5))
    comment = factory.LazyFunction(lambda: _rand().choice(COMMENTS))


FACTORIES: Final = (
    TagFactory,
    OrganizerFactory,
    VenueFactory,
    AttendeeFactory,
    EventFactory,
    TicketTypeFactory,
    TicketFactory,
    ReviewFactory,
)

#: Users created by ``seed()``; ``alice`` holds four tickets (``/api/me/tickets/``).
USERNAMES: Final = ("alice", "bob")


def seed(*, scale: int = 1) -> dict[str, int]:
    """Create the example data set in the default database; return row counts.

    ``scale=1``: 8 organizers, 6 venues, 8 tags, 60 events (every other one
    tagged ``jazz``: three pages), 3 ticket types each, about 1,000 tickets
    and 200 reviews. ``scale=N`` multiplies events, attendees, tickets and
    reviews by N. Rows are inserted with ``bulk_create``; the same ``scale``
    always gives the same rows, ids included, in a fresh database.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    factory.random.reseed_random(SEED)
    for factory_class in FACTORIES:
        factory_class.reset_sequence(0)
    rand = _rand()
    with transaction.atomic():
        return _create(rand, scale)


def _create(rand: Any, scale: int) -> dict[str, int]:
    user_model = get_user_model()
    # No password (logging in is for the audit's force_login, or set one with
    # manage.py changepassword alice), a fixed date_joined: nothing from now().
    users = [
        user_model.objects.create_user(name, f"{name}@example.com", date_joined=START)
        for name in USERNAMES
    ]

    tags = Tag.objects.bulk_create(TagFactory.build_batch(len(TAGS)))
    jazz, others = tags[0], tags[1:]
    organizers = Organizer.objects.bulk_create(OrganizerFactory.build_batch(len(ORGANIZERS)))
    venues = Venue.objects.bulk_create(VenueFactory.build_batch(len(VENUES)))
    attendees = Attendee.objects.bulk_create(
        AttendeeFactory.build(user=users[0] if i == 0 else None) for i in range(120 * scale)
    )

    events = Event.objects.bulk_create(
        EventFactory.build(organizer=rand.choice(organizers), venue=rand.choice(venues))
        for _ in range(60 * scale)
    )
    through = Event.tags.through
    links = []
    for i, event in enumerate(events):
        chosen = ([jazz] if i % 2 == 0 else []) + rand.sample(others, rand.randint(1, 2))
        links.extend(through(event=event, tag=tag) for tag in chosen)
    through.objects.bulk_create(links)

    ticket_types = []
    for event in events:
        for name, (q_low, q_high), (p_low, p_high) in TICKET_TYPES:
            price = Decimal(rand.randint(p_low, p_high)) + Decimal(rand.choice(("0.00", "0.50")))
            quota = rand.randint(q_low, q_high)
            ticket_types.append(
                TicketTypeFactory.build(event=event, name=name, price=price, quota=quota)
            )
    ticket_types = TicketType.objects.bulk_create(ticket_types)
    types_by_event: dict[int, list[TicketType]] = {}
    for ticket_type in ticket_types:
        types_by_event.setdefault(ticket_type.event_id, []).append(ticket_type)

    tickets, reviews = [], []
    for index, event in enumerate(events):
        types = types_by_event[event.pk]
        for _ in range(rand.randint(5, 30)):
            ticket_type = rand.choices(types, weights=(3, 6, 1))[0]
            tickets.append(_ticket(event, ticket_type, rand.choice(attendees[1:]), rand))
        if index < 4:  # alice's four tickets
            tickets.append(_ticket(event, types[1], attendees[0], rand))
        for _ in range(rand.randint(1, 6)):
            reviews.append(
                ReviewFactory.build(
                    event=event,
                    attendee=rand.choice(attendees[1:]),
                    created_at=event.starts_at + timedelta(hours=rand.randint(3, 72)),
                )
            )
    Ticket.objects.bulk_create(tickets)
    Review.objects.bulk_create(reviews)
    return {
        "users": len(users),
        "organizers": len(organizers),
        "venues": len(venues),
        "tags": len(tags),
        "attendees": len(attendees),
        "events": len(events),
        "ticket_types": len(ticket_types),
        "tickets": len(tickets),
        "reviews": len(reviews),
    }


def _ticket(event: Event, ticket_type: TicketType, buyer: Attendee, rand: Any) -> Ticket:
    purchased_at = event.starts_at - timedelta(
        days=rand.randint(1, 60), minutes=rand.randint(0, 59)
    )
    return TicketFactory.build(
        event=event, ticket_type=ticket_type, attendee=buyer, purchased_at=purchased_at
    )

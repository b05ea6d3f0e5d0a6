"""A production-like data set: hundreds of thousands of events, millions of tickets.

``manage.py seed --size large`` (and ``EXAMPLE_SIZE=large`` for the audit and
compare scenarios) builds it. Unlike the small factory-boy set (``seed
--scale N``), its shape is skewed the way real platforms are:

* tag popularity follows a Zipf law (``jazz`` is the most used of 40 tags and
  sits on 45 % of the events, the rarest on 1 %);
* organizer and venue sizes follow Zipf laws too (at 300,000 events the
  biggest organizer runs 36,600 of them, the smallest a few dozen);
* tickets per event follow a Pareto law (most events sell a dozen tickets, a
  few sell thousands), reviews grow with the tickets sold;
* descriptions are a few hundred characters, as a real listing's are.

The rows come from one :class:`random.Random` with a fixed seed, in a fixed
order, and timestamps count from a fixed date: the same size always gives the
same rows, ids included, on every machine and database.

On PostgreSQL the rows are written with ``COPY`` (psycopg 3 ``cursor.copy()``),
the way ``pg_restore`` loads a dump: the tables' secondary indexes and foreign
keys are dropped first and created again afterwards from their own
definitions (an index built once over sorted data is several times faster
than one maintained row by row; the foreign keys are validated in one pass
each), and ``VACUUM (ANALYZE)`` runs once the rows are committed, as
autovacuum would have done in production. Elsewhere, batched
``bulk_create``. Indexes are what the migrations declare: Django's
foreign-key and unique indexes, plus the ``(starts_at, id)`` index a list
ordered by date has in a real project.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Model

from example_project.events.factories import (
    ADJECTIVES,
    COMMENTS,
    FIRST_NAMES,
    LAST_NAMES,
    NOUNS,
    START,
    USERNAMES,
)
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

__all__ = ["SIZES", "build", "plan"]

SEED: Final = 20250302

#: Number of events of each named size; everything else is derived from it.
SIZES: Final = {"ci": 10_000, "medium": 50_000, "large": 300_000}

TAGS: Final = [
    "jazz", "rock", "electronic", "classical", "folk", "theatre", "comedy", "family",
    "hip-hop", "soul", "blues", "metal", "pop", "indie", "reggae", "latin",
    "opera", "ballet", "cabaret", "poetry", "film", "workshop", "talk", "market",
    "food", "wine", "craft-beer", "dance", "world", "ambient", "punk", "gospel",
    "choir", "circus", "magic", "kids", "outdoor", "festival", "charity", "late-night",
]  # fmt: skip
CITIES: Final = [
    "Lyon", "Leeds", "Porto", "Ghent", "Aarhus", "Bologna", "Graz", "Utrecht",
    "Kraków", "Seville", "Tartu", "Cork", "Bergen", "Lille", "Brno", "Turin",
]  # fmt: skip
PLACES: Final = ["Hall", "Cellar", "Stage", "Mill", "Club", "Arena", "Theatre", "Yard"]
WORDS: Final = [
    "an", "evening", "of", "music", "with", "friends", "and", "guests", "from",
    "the", "city", "scene", "doors", "open", "early", "bar", "food", "seated",
    "standing", "all", "ages", "welcome", "limited", "capacity", "live", "sound",
]  # fmt: skip
TICKET_TYPES: Final = [
    # name, quota range, price range in whole units, share of the sales
    ("Student", (10, 400), (12, 20), 0.3),
    ("Standard", (30, 2000), (25, 60), 0.6),
    ("VIP", (4, 200), (80, 150), 0.1),
]


def plan(events: int) -> dict[str, int]:
    """How many organizers, venues, attendees go with ``events`` events."""
    if events < 10:
        raise ValueError(f"events must be at least 10, got {events}")
    return {
        "organizers": max(8, events // 150),
        "venues": max(6, events // 200),
        "attendees": max(120, events * 2 // 3),
    }


class _Zipf:
    """Draw ranks 0..n-1 with probability proportional to 1 / (rank + 1) ** s."""

    def __init__(self, n: int, s: float, rand: random.Random) -> None:
        weights = [1 / (rank + 1) ** s for rank in range(n)]
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]
        self.rand = rand

    def draw(self) -> int:
        return bisect.bisect(self.cumulative, self.rand.random() * self.total)


def _ts(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


# -- the rows --------------------------------------------------------------
#
# Each generator yields tuples in the column order of ``COLUMNS``; ids are
# explicit (1..n) so the same rows get the same ids everywhere.

COLUMNS: Final = {
    Tag: ("id", "slug", "name"),
    Organizer: ("id", "name", "slug", "email", "verified"),
    Venue: ("id", "name", "city", "capacity"),
    Attendee: ("id", "user_id", "name", "email"),
    Event: ("id", "title", "slug", "organizer_id", "venue_id", "starts_at", "description"),
    Event.tags.through: ("id", "event_id", "tag_id"),
    TicketType: ("id", "event_id", "name", "price", "quota"),
    Ticket: ("id", "event_id", "ticket_type_id", "attendee_id", "code", "purchased_at"),
    Review: ("id", "event_id", "attendee_id", "rating", "comment", "created_at"),
}


class _Rows:
    """The whole data set, generated table by table from one random stream."""

    def __init__(self, events: int, user_ids: Sequence[int]) -> None:
        self.rand = random.Random(SEED)
        self.events = events
        self.counts = plan(events)
        self.user_ids = user_ids
        # Filled while the events are generated, read by later tables.
        self.tickets_per_event: list[int] = []
        self.starts: list[int] = []

    def tags(self) -> Iterator[tuple[Any, ...]]:
        for number, slug in enumerate(TAGS, 1):
            yield (number, slug, slug.replace("-", " ").title())

    def organizers(self) -> Iterator[tuple[Any, ...]]:
        for number in range(1, self.counts["organizers"] + 1):
            adjective = ADJECTIVES[number % len(ADJECTIVES)]
            noun = NOUNS[(number // len(ADJECTIVES)) % len(NOUNS)]
            name = f"{adjective} {noun} Presents {number}"
            slug = f"{adjective}-{noun}-presents-{number}".lower()
            yield (number, name, slug, f"hello@{slug}.example", number % 3 != 2)

    def venues(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        for number in range(1, self.counts["venues"] + 1):
            place = PLACES[number % len(PLACES)]
            city = CITIES[(number // len(PLACES)) % len(CITIES)]
            yield (number, f"{city} {place} {number}", city, rand.choice((80, 300, 900, 1800)))

    def attendees(self) -> Iterator[tuple[Any, ...]]:
        for number in range(1, self.counts["attendees"] + 1):
            first = FIRST_NAMES[number % len(FIRST_NAMES)]
            last = LAST_NAMES[(number // len(FIRST_NAMES)) % len(LAST_NAMES)]
            user = self.user_ids[0] if number == 1 else None  # alice
            yield (number, user, f"{first} {last}", f"attendee{number}@example.com")

    def events_rows(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        organizers = _Zipf(self.counts["organizers"], 1.0, rand)
        venues = _Zipf(self.counts["venues"], 0.8, rand)
        span = 3 * 365 * 24 * 4  # three years of quarter hours
        for number in range(1, self.events + 1):
            adjective, noun = rand.choice(ADJECTIVES), rand.choice(NOUNS)
            starts = rand.randrange(span) * 15
            self.starts.append(starts)
            # Pareto tickets: most events sell a dozen, a few thousands.
            self.tickets_per_event.append(min(int(rand.paretovariate(1.4) * 5), 4000))
            words = rand.choices(WORDS, k=rand.randint(30, 70))
            yield (
                number,
                f"{adjective} {noun} #{number}",
                f"{adjective}-{noun}-{number}".lower(),
                organizers.draw() + 1,
                venues.draw() + 1,
                _ts(starts),
                " ".join(words).capitalize() + ".",
            )

    def event_tags(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        tags = _Zipf(len(TAGS), 1.1, rand)
        number = 0
        for event in range(1, self.events + 1):
            wanted = 1 + (rand.random() < 0.6) + (rand.random() < 0.3)
            chosen: list[int] = []
            while len(chosen) < wanted:
                tag = tags.draw() + 1
                if tag not in chosen:
                    chosen.append(tag)
            for tag in sorted(chosen):
                number += 1
                yield (number, event, tag)

    def ticket_types(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        number = 0
        for event in range(1, self.events + 1):
            for name, (q_low, q_high), (p_low, p_high), _ in TICKET_TYPES:
                number += 1
                price = Decimal(rand.randint(p_low, p_high)) + Decimal(rand.choice(("0", "0.5")))
                quota = rand.randint(q_low, q_high)
                yield (number, event, name, price.quantize(Decimal("0.01")), quota)

    def tickets(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        attendees = self.counts["attendees"]
        thresholds = list(itertools.accumulate(share for *_, share in TICKET_TYPES))
        number = 0
        for event, sold in enumerate(self.tickets_per_event, 1):
            first_type = 3 * (event - 1) + 1
            starts = self.starts[event - 1]
            buyers = [(2 + rand.randrange(attendees - 1)) for _ in range(sold)]
            if event <= 4:  # alice's four tickets
                buyers.append(1)
            for buyer in buyers:
                number += 1
                kind = bisect.bisect(thresholds, rand.random())
                before = rand.randrange(1, 60 * 24 * 60)  # up to 60 days before
                yield (
                    number,
                    event,
                    first_type + min(kind, 2),
                    buyer,
                    f"T{number:08d}",
                    _ts(starts - before),
                )

    def reviews(self) -> Iterator[tuple[Any, ...]]:
        rand = self.rand
        attendees = self.counts["attendees"]
        number = 0
        for event, sold in enumerate(self.tickets_per_event, 1):
            starts = self.starts[event - 1]
            for _ in range(rand.randint(0, 2) + sold // 8):
                number += 1
                yield (
                    number,
                    event,
                    2 + rand.randrange(attendees - 1),
                    rand.randint(1, 5),
                    rand.choice(COMMENTS),
                    _ts(starts + rand.randrange(3 * 60, 72 * 60)),
                )

    def tables(self) -> list[tuple[type[Model], Callable[[], Iterator[tuple[Any, ...]]]]]:
        # Order matters: events fill tickets_per_event and starts for the later tables.
        return [
            (Tag, self.tags),
            (Organizer, self.organizers),
            (Venue, self.venues),
            (Attendee, self.attendees),
            (Event, self.events_rows),
            (Event.tags.through, self.event_tags),
            (TicketType, self.ticket_types),
            (Ticket, self.tickets),
            (Review, self.reviews),
        ]


# -- writing them -----------------------------------------------------------


def build(events: int) -> dict[str, int]:
    """Create the data set with ``events`` events in the default database; row counts."""
    plan(events)  # validates
    with transaction.atomic():
        user_model = get_user_model()
        users = [
            user_model.objects.create_user(name, f"{name}@example.com", date_joined=START)
            for name in USERNAMES
        ]
        rows = _Rows(events, [user.pk for user in users])
        counts = {"users": len(users)}
        models = [model for model, _ in rows.tables()]
        if connection.vendor == "postgresql":
            with _without_secondary_indexes(models):
                for model, generate in rows.tables():
                    counts[_name(model)] = _copy(model, generate())
            _reset_sequences(models)
            transaction.on_commit(lambda: _vacuum(models))
        else:
            for model, generate in rows.tables():
                counts[_name(model)] = _bulk_create(model, generate())
    return counts


def _name(model: type[Model]) -> str:
    if model is Event.tags.through:
        return "event_tags"
    return {TicketType: "ticket_types"}.get(model, f"{model._meta.model_name}s")


def _text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(value)


def _copy(model: type[Model], rows: Iterable[tuple[Any, ...]]) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS[model])
    count = 0
    raw = connection.connection  # the psycopg connection, inside Django's transaction
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer: list[str] = []
        for row in rows:
            buffer.append("\t".join(map(_text, row)))
            count += 1
            if len(buffer) == 20_000:
                copy.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            copy.write("\n".join(buffer) + "\n")
    return count


def _bulk_create(model: type[Model], rows: Iterable[tuple[Any, ...]]) -> int:
    columns = COLUMNS[model]
    count = 0
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, 5_000)):
        objects = [model(**dict(zip(columns, row, strict=True))) for row in batch]
        model._default_manager.bulk_create(objects)
        count += len(batch)
    return count


class _without_secondary_indexes:
    """Drop the tables' non-primary-key indexes and foreign keys; recreate them on exit."""

    def __init__(self, models: Sequence[type[Model]]) -> None:
        self.tables = [model._meta.db_table for model in models]
        self.constraints: list[tuple[str, str, str, str]] = []
        self.indexes: list[str] = []

    def __enter__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # Foreign keys from or to these tables, and their unique constraints.
            cursor.execute(
                """
                SELECT c.conrelid::regclass::text, c.conname, c.contype,
                       pg_get_constraintdef(c.oid)
                FROM pg_constraint c
                WHERE c.contype IN ('f', 'u')
                  AND (c.conrelid::regclass::text = ANY(%s)
                       OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY(%s)))
                ORDER BY c.contype, c.conrelid::regclass::text, c.conname
                """,
                [self.tables, self.tables],
            )
            self.constraints = list(cursor.fetchall())
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1
                """,
                [self.tables],
            )
            found = list(cursor.fetchall())
            self.indexes = [definition for _, definition in found]
            # Foreign keys first ('f' sorts before 'u'), then the unique constraints.
            for table, name, _, _ in self.constraints:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            for name, _ in found:
                cursor.execute(f'DROP INDEX "{name}"')

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            return  # the transaction rolls the drops back
        with connection.cursor() as cursor:
            for definition in self.indexes:
                cursor.execute(definition)
            # Unique constraints before the foreign keys that may rely on them.
            for table, name, _, definition in reversed(self.constraints):
                cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def _vacuum(models: Sequence[type[Model]]) -> None:
    """``VACUUM (ANALYZE)`` the new tables, once the rows are committed.

    What autovacuum does to a production table: planner statistics, and the
    visibility map without which every index-only scan visits the heap.
    Runs as an ``on_commit`` hook because VACUUM cannot run in a transaction
    (``seed`` and the scenarios' set-up both load inside one).
    """
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def _reset_sequences(models: Sequence[type[Model]]) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)

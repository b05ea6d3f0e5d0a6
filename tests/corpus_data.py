"""The rows of the detector corpus: readers, books with tags, favourites, follows, loans."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from tests.factories import BookFactory, TagFactory
from tests.testapp.models import Loan, Reader, Recommendation


def make_library() -> dict[str, Any]:
    tags = TagFactory.create_batch(3)
    users = [User.objects.create(username=f"reader{i}") for i in range(4)]
    readers = [Reader.objects.create(user=user) for user in users]
    books = []
    for i in range(5):
        book = BookFactory()
        book.tags.set(tags[: i % 3 + 1])
        books.append(book)
    readers[0].favorites.set(books[:2])
    readers[1].favorites.set(books[1:4])
    readers[0].follows.set(readers[2:])
    for i, book in enumerate(books):
        Loan.objects.create(book=book, reader=readers[i % 4], returned=i % 2 == 0)
        Loan.objects.create(book=book, reader=readers[(i + 1) % 4])
    return {"readers": readers, "books": books}


def make_recommendations(library: dict[str, Any]) -> None:
    """Each book recommended by one reader to another (two foreign keys to `Reader`)."""
    readers = library["readers"]
    for i, book in enumerate(library["books"]):
        Recommendation.objects.create(
            book=book, from_reader=readers[i % 4], to_reader=readers[(i + 1) % 4]
        )

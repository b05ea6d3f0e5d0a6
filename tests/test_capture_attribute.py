"""``QueryEvent.attribute``: the attribute whose load at the call site ran the query."""

from __future__ import annotations

from typing import Any

import pytest

import perfaudit
from tests.factories import BookFactory
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db


def test_a_foreign_key_load_names_its_attribute_and_a_query_set_none() -> None:
    BookFactory.create_batch(3)
    with perfaudit.record() as rec:
        books = list(Book.objects.order_by("id"))
        names = [book.author.name for book in books]
        count = Book.objects.count()
    assert len(names) == 3
    assert count == 3
    assert [q.attribute for q in rec.queries] == [None, "author", "author", "author", None]


def test_an_attribute_far_down_a_large_function_is_decoded() -> None:
    """Past 256 names the instruction's argument needs EXTENDED_ARG prefixes."""
    BookFactory()
    names = [f"unused_{i}" for i in range(300)]
    source = "def load(book, seen):\n"
    source += "".join(f"    seen.append(getattr(book, {n!r}, None) or book.{n})\n" for n in names)
    source += "    return book.author\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    book = Book.objects.get()
    for name in names:
        setattr(book, name, 0)
    with perfaudit.record() as rec:
        namespace["load"](book, [])
    assert [q.attribute for q in rec.queries] == ["author"]
    assert namespace["load"].__code__.co_names.index("author") > 255

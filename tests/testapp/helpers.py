"""A data-access helper, to test CALLSITE_SKIP_MODULES."""

from __future__ import annotations

from tests.testapp.models import Author


def load_author(pk: int) -> Author | None:
    return Author.objects.filter(pk=pk).first()

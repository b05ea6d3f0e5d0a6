"""Words for people: counts with the right noun.

Every output says ``1 query`` and ``2 queries``, never ``1 query(ies)``.
"""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 query"``, ``"2 queries"``; ``many`` defaults to ``one + "s"``."""
    return f"{count} {one if count == 1 else (many if many is not None else one + 's')}"

"""Which requests the middleware records, and where their reports may go.

* Never django-debug-toolbar's own views (``djdt:*``: the panel's content is
  fetched with a request of its own, which is the toolbar's, not the
  application's), nor what ``PERFAUDIT["EXCLUDE"]`` names: URL names, or
  paths when the pattern starts with ``/`` (shell-style patterns).
* Under Django's test environment — the test runner, pytest-django, and the
  throwaway environment of ``audit`` and ``compare`` — no JSONL line is
  written unless ``PERFAUDIT["JSONL_IN_TESTS"]``: test traffic must not land
  in the development file that ``report`` reads. Django marks that
  environment by creating ``django.core.mail.outbox``.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable
from typing import Final

from django.core import mail

from perfaudit.conf import app_settings

__all__ = ["ALWAYS_EXCLUDED", "excluded_path", "excluded_view", "in_test_environment"]

#: URL names never recorded, whatever the settings say.
ALWAYS_EXCLUDED: Final = ("djdt:*",)


def in_test_environment() -> bool:
    """Whether Django's test environment is set up (``setup_test_environment``)."""
    return hasattr(mail, "outbox")


def excluded_path(path: str, patterns: Iterable[str] | None = None) -> bool:
    """Whether a path pattern of ``EXCLUDE`` matches ``path`` (checked before recording)."""
    chosen = tuple(app_settings.EXCLUDE if patterns is None else patterns)
    return _matcher(chosen, paths=True)(path) is not None


def excluded_view(view_name: str | None, patterns: Iterable[str] | None = None) -> bool:
    """Whether ``view_name`` is the toolbar's or matches a URL-name pattern of ``EXCLUDE``."""
    if not view_name:
        return False
    chosen = tuple(app_settings.EXCLUDE if patterns is None else patterns)
    return _matcher(ALWAYS_EXCLUDED + chosen, paths=False)(view_name) is not None


@functools.lru_cache(maxsize=32)
def _matcher(patterns: tuple[str, ...], *, paths: bool) -> Callable[[str], object]:
    """One compiled regex for the path patterns (or the URL-name ones) of
    ``patterns``: checked on every request, where a ``fnmatch`` per pattern
    cost microseconds."""
    chosen = [p for p in patterns if p.startswith("/") == paths]
    if not chosen:
        return _never
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in chosen)).match


def _never(value: str) -> None:
    return None

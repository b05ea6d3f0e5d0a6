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
from collections.abc import Iterable
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
    chosen = app_settings.EXCLUDE if patterns is None else patterns
    return any(p.startswith("/") and fnmatch.fnmatchcase(path, p) for p in chosen)


def excluded_view(view_name: str | None, patterns: Iterable[str] | None = None) -> bool:
    """Whether ``view_name`` is the toolbar's or matches a URL-name pattern of ``EXCLUDE``."""
    if not view_name:
        return False
    chosen = (*ALWAYS_EXCLUDED, *(app_settings.EXCLUDE if patterns is None else patterns))
    return any(not p.startswith("/") and fnmatch.fnmatchcase(view_name, p) for p in chosen)

"""``PerfAuditPanel``: perfaudit's findings for the page the toolbar is shown on."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from django.apps import apps
from django.core import checks

from perfaudit import capture
from perfaudit.toolbar._base import Panel
from perfaudit.toolbar._stats import build_stats, nav_subtitle, without_tables

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from perfaudit.capture import Recorder, Recording

__all__ = ["PerfAuditPanel"]

logger = logging.getLogger("perfaudit")

TEMPLATE: Final = "perfaudit/panel.html"


class PerfAuditPanel(Panel):
    """A django-debug-toolbar panel: findings, queries by shape, payload hash, budget.

    Add ``"perfaudit.toolbar.PerfAuditPanel"`` to ``DEBUG_TOOLBAR_PANELS``
    (and ``"perfaudit"`` to ``INSTALLED_APPS``, which holds its template).

    The request is recorded from ``enable_instrumentation`` to
    ``disable_instrumentation``: the toolbar middleware calls them around the
    whole panel chain and the view, in the request's own thread or asyncio
    task, and calls ``disable_instrumentation`` even when the view raises. The
    recording lives in a context variable, so queries of other requests never
    land in it, while the async ORM's and ``sync_to_async``'s (which copy the
    context) do. ``generate_stats`` then runs the detectors once, after the
    recording has stopped, and stores plain JSON through ``record_stats``.
    """

    title = "perfaudit"
    template = TEMPLATE
    # Capture follows the request's context, under WSGI and ASGI alike.
    is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder: Recorder | None = None
        self._recording: Recording | None = None

    @property
    def nav_subtitle(self) -> str:
        return nav_subtitle(self.get_stats())

    def enable_instrumentation(self) -> None:
        if self._recorder is not None:  # the toolbar asks for idempotence
            return
        try:
            recorder = capture.record()
            self._recording = recorder.__enter__()
        except Exception:
            logger.exception("the toolbar panel could not start recording")
            return
        self._recorder = recorder

    def disable_instrumentation(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.__exit__(None, None, None)

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        # The toolbar disables instrumentation before it generates stats; stop
        # here too in case a toolbar version does not.
        self.disable_instrumentation()
        recording = self._recording
        if recording is None:
            self.record_stats({"error": "perfaudit did not record this request."})
            return
        try:
            from perfaudit.web.middleware import view_name

            recording = without_tables(recording, _toolbar_tables())
            stats = build_stats(recording, response, view=view_name(request))
        except Exception as exc:
            # The panel must never break the page it is shown on.
            logger.exception("the toolbar panel could not summarise the request")
            stats = {
                "query_count": len(recording),
                "error": f"perfaudit could not summarise this request: "
                f"{type(exc).__name__}: {exc}",
            }
        self.record_stats(stats)

    @classmethod
    def run_checks(cls) -> list[checks.CheckMessage]:
        if apps.is_installed("perfaudit"):
            return []
        return [
            checks.Error(
                "perfaudit.toolbar.PerfAuditPanel is in DEBUG_TOOLBAR_PANELS but 'perfaudit' "
                "is not in INSTALLED_APPS, so the panel's template cannot be found.",
                hint="Add 'perfaudit' to INSTALLED_APPS.",
                id="perfaudit.E020",
            )
        ]


def _toolbar_tables() -> frozenset[str]:
    """Tables of the toolbar's own database and cache stores (django-debug-toolbar 6+)."""
    try:
        from debug_toolbar.panels.sql import tracking
    except Exception:  # pragma: no cover - an older toolbar or a broken install
        return frozenset()
    return frozenset(getattr(tracking, "DDT_MODELS", ()))

"""perfaudit's django-debug-toolbar panel (``pip install 'perfaudit[toolbar]'``).

::

    INSTALLED_APPS = [..., "debug_toolbar", "perfaudit"]
    DEBUG_TOOLBAR_PANELS = [
        *debug_toolbar.settings.PANELS_DEFAULTS,
        "perfaudit.toolbar.PerfAuditPanel",
    ]

This is the only part of perfaudit that imports ``debug_toolbar``. See
docs/toolbar.md.
"""

from __future__ import annotations

from perfaudit.toolbar.panel import PerfAuditPanel

__all__ = ["PerfAuditPanel"]

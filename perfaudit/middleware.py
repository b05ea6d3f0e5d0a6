"""The import path users put in ``MIDDLEWARE``: ``perfaudit.middleware.PerfAuditMiddleware``.

The implementation lives in :mod:`perfaudit.web.middleware`.
"""

from __future__ import annotations

from perfaudit.web.middleware import BudgetExceeded, PerfAuditMiddleware

__all__ = ["BudgetExceeded", "PerfAuditMiddleware"]

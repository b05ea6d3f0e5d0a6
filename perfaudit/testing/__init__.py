"""perfaudit in tests: the unittest mixin, the pytest plugin and what they share.

* :mod:`~perfaudit.testing.mixin` — :class:`PerfAuditTestMixin`;
* :mod:`~perfaudit.testing.pytest_plugin` — fixtures and markers (``pytest11``);
* :mod:`~perfaudit.testing.assertions` — the checks both call;
* :mod:`~perfaudit.testing.messages` — failure messages, formatted from the
  recording's :class:`~perfaudit.detect.analysis.Analysis`;
* :mod:`~perfaudit.testing.snapshots` — payload snapshot files.

``PerfAuditTestMixin`` is imported on first use so that the pytest plugin,
which lives in this package, can load before Django is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfaudit.testing.mixin import PerfAuditTestMixin

__all__ = ["PerfAuditTestMixin"]


def __getattr__(name: str) -> Any:
    if name == "PerfAuditTestMixin":
        from perfaudit.testing.mixin import PerfAuditTestMixin

        return PerfAuditTestMixin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The toolbar's ``Panel`` base class, typed for perfaudit's own checks.

django-debug-toolbar ships type information only in recent releases, and it
is an optional dependency: type-checking against this declaration of the part
of the Panel API perfaudit uses gives the same result whether the toolbar is
installed or not, and whichever version it is. At run time this is the real
``debug_toolbar.panels.Panel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Panel"]

if TYPE_CHECKING:
    from django.core.checks import CheckMessage
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    class Panel:
        """``debug_toolbar.panels.Panel``, as far as perfaudit uses it."""

        toolbar: Any
        is_async: bool

        def __init__(self, toolbar: Any, get_response: Any) -> None: ...
        def enable_instrumentation(self) -> None: ...
        def disable_instrumentation(self) -> None: ...
        def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None: ...
        def record_stats(self, stats: dict[str, Any]) -> None: ...
        def get_stats(self) -> dict[str, Any]: ...
        @classmethod
        def run_checks(cls) -> list[CheckMessage]: ...

else:
    try:
        from debug_toolbar.panels import Panel
    except ImportError as exc:
        raise ImportError(
            "perfaudit.toolbar needs django-debug-toolbar: pip install 'perfaudit[toolbar]'."
        ) from exc

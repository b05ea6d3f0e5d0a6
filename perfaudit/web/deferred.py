"""Run a request's reporting after its response has been sent: on ``response.close()``.

Every server calls ``close()`` on the response once the client has it: the
WSGI specification requires it of the server (gunicorn, uWSGI, mod_wsgi,
``runserver`` call it after writing the last byte), Django's ASGI handler
awaits it after sending the final body message, and Django's test clients
call it before ``client.get()`` returns (for a streaming response, once the
stream is consumed). ``HttpResponseBase.close()`` then calls each callable in
``response._resource_closers``, which is where Django itself hangs the
request's own clean-up (``request.close``) and a ``FileResponse``'s file: the
attribute is private but has had this role, unchanged, since Django 3.0.
:func:`defer` appends one callable there.

Why not a background thread: under CPython's GIL a reporting thread competes
with the request threads for the interpreter, and a request thread coming back
from the database waits for it (up to the 5 ms switch interval), which costs
the next request more than the work saved. Closing runs in the thread that
served the request, after the client has its bytes, so the work is bounded by
the requests in flight: nothing queues up, and nothing is pending when a
graceful shutdown ends.

What can be lost: the work of a response that is never closed (an ASGI request
cancelled by a client disconnect after perfaudit returned the response but
before Django's handler started sending it, a middleware above that replaces
the response object, a server that does not close responses, code that calls
the middleware directly). Such
work is not silent: when the pending callable is garbage-collected without
having run, it is counted (:meth:`Store.count_dropped`), the count is carried
by the next JSONL line, and a WARNING is logged at most once a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic
from typing import Final

from django.http.response import HttpResponseBase

from perfaudit.web.store import get_store

__all__ = ["LOG_INTERVAL", "Pending", "defer", "log_drops"]

logger = logging.getLogger("perfaudit")

#: Seconds between two log lines about dropped work (the first is logged at once).
LOG_INTERVAL: Final = 60.0

# The store's drop count when it was last logged, and when.
_logged = 0
_logged_at = -LOG_INTERVAL


class Pending:
    """One finished request's post-response work; runs at most once.

    Called by ``HttpResponseBase.close()``, which swallows a closer's
    exceptions without a word: an error is logged here, with its traceback,
    under ``description``. Collected without having run, it counts as dropped.
    """

    __slots__ = ("description", "work")

    def __init__(self, work: Callable[[], object], description: str) -> None:
        self.work: Callable[[], object] | None = work
        self.description = description

    def __call__(self) -> None:
        work, self.work = self.work, None
        if work is None:
            return
        try:
            work()
        except Exception:
            logger.exception(
                "reporting on %s failed after the response was sent", self.description
            )
        log_drops()

    def __del__(self) -> None:
        # Only count here: a finaliser can run in any thread, at any point of
        # another function (even inside the logging module); the log line
        # comes from the next request instead (log_drops).
        if self.work is not None:
            self.work = None
            # Not contextlib.suppress: at interpreter exit, modules are torn down.
            try:  # noqa: SIM105
                get_store().count_dropped()
            except Exception:  # pragma: no cover
                pass


def defer(response: HttpResponseBase, work: Callable[[], object], description: str) -> bool:
    """Run ``work`` when ``response`` is closed; False (nothing deferred) if it cannot be.

    The callable must not reference ``response``: the response would then
    hold itself alive through its closers and, never closed, be freed only by
    the cycle collector, late.
    """
    closers = getattr(response, "_resource_closers", None)
    log_drops()
    if not isinstance(closers, list) or getattr(response, "closed", False):
        return False
    closers.append(Pending(work, description))
    return True


def log_drops() -> None:
    """Log the work dropped since the last such line, at most once per :data:`LOG_INTERVAL`."""
    global _logged, _logged_at
    store = get_store()
    dropped = store.dropped_requests
    if dropped == _logged:  # the common case: one comparison
        return
    now = monotonic()
    if dropped > _logged and now - _logged_at < LOG_INTERVAL:
        return
    new, _logged, _logged_at = dropped - _logged, dropped, now
    if new <= 0:  # the store was cleared: start counting again, say nothing
        return
    logger.warning(
        "the reports of %d requests were dropped (%d in all): "
        "their responses were garbage-collected without response.close(), which runs the "
        "reporting: a server that does not close responses, an ASGI client that disconnected "
        "before the response was sent, or a middleware above perfaudit that replaced it",
        new,
        dropped,
    )

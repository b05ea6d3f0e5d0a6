"""Record the queries a block of code runs.

How it works, and why:

* One module-level wrapper (:func:`_dispatch`) is put at the front of every
  connection's ``execute_wrappers`` list, once per connection object: when
  :func:`record` starts, and for every connection established later through
  Django's ``connection_created`` signal (other threads, ``sync_to_async``).
  It sits at the *front* so that a user's own ``connection.execute_wrapper()``
  block, which pops the *last* wrapper on exit, never pops ours.
* Which recordings receive a query is decided by a context variable, not by
  the connection: a thread or asyncio task only feeds the recordings that are
  active in its own context, and nested recordings all receive the query.
* The hot path appends one tuple per active recording. Turning raw tuples into
  :class:`QueryEvent` objects, resolving call sites and fingerprinting SQL
  happen lazily, when someone reads :attr:`Recording.queries`.
* Bookkeeping errors are swallowed: capture must never break the user's query.
  The query is still counted (as overflow: counted, not kept) and the first
  failure is logged as a warning, so a broken capture never reads as "0 queries".
* SQL that is not a ``str`` (psycopg 3's ``sql.Composed``/``sql.SQL``, ``bytes``;
  Django's cursor accepts both) is recorded as its rendered text. The check is
  one type test per query; the rendering only runs for such SQL.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from django.core.signals import request_finished, request_started
from django.db import connections
from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from perfaudit.capture.types import Recording, _RawEvent

__all__ = ["active_recordings", "install"]

logger = logging.getLogger("perfaudit")


class _Active:
    """The recordings active in a context, outermost first, and what the hot path needs.

    Decided once when a block starts instead of once per query: the call-site
    policy (that of the first recording that wants call sites) and, when a
    single recording takes every alias and keeps parameters (the defaults),
    its event list (``sink``) so that the common case appends the event as
    built. Otherwise :func:`_deliver` filters by alias and drops parameters
    per recording.
    """

    __slots__ = ("limit", "policy", "recordings", "sink")

    def __init__(self, recordings: tuple[Recording, ...]) -> None:
        self.recordings = recordings
        self.policy = next((r._policy for r in recordings if r._policy is not None), None)
        only = recordings[0] if len(recordings) == 1 else None
        simple = only is not None and only.using is None and only._keep_params
        self.sink: list[_RawEvent] | None = only._raw if only is not None and simple else None
        self.limit = only._max if only is not None else 0


# What records in the current thread / task; None (one identity test on the
# hot path) while nothing does.
_ACTIVE: Final[ContextVar[_Active | None]] = ContextVar("perfaudit_active", default=None)


def active_recordings() -> tuple[Recording, ...]:
    """The recordings that receive this thread's or task's queries, outermost first."""
    active = _ACTIVE.get()
    return active.recordings if active is not None else ()


# -- the hot path -------------------------------------------------------------

_store_failures = 0


def _dispatch(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper installed on every connection.

    Everything is inline (no helper call) and the bookkeeping runs in the
    ``finally`` clause so that a raising query and a successful one share
    one path: at a few hundred nanoseconds per query, a Python call or a
    second loop over the recordings is a measurable share of the cost.
    """
    active = _ACTIVE.get()
    if active is None:
        return execute(sql, params, many, context)
    error: type[BaseException] | None = None
    start = perf_counter()
    try:
        return execute(sql, params, many, context)
    except BaseException as exc:
        error = type(exc)
        raise
    finally:
        end = perf_counter()
        try:
            connection = context["connection"]
            # Django is still setting this connection up (MySQL runs SET SESSION
            # ... and a server-version probe through a wrapped cursor) until it
            # sends connection_created: not the user's query, and Django's own
            # assertNumQueries leaves it out too.
            if connection.connection is connection._perfaudit_established:
                policy = active.policy
                # Frame 1 is Django's _execute_with_wrappers (perfaudit's wrapper
                # is always the outermost), frame 2 the cursor wrapper's
                # execute()/executemany() that called it: cursor machinery, never
                # the application's call site, so the walk starts above them.
                site_info = policy.user_frame(sys._getframe(3)) if policy is not None else None
                if sql.__class__ is not str:
                    sql = _rendered(sql, connection)
                if many and not isinstance(params, list | tuple):
                    params = None  # a one-shot iterator: already consumed by the driver
                event = (
                    sql,
                    params,
                    many,
                    connection.alias,
                    start,
                    end,
                    error,
                    site_info,
                )
                sink = active.sink
                if sink is not None and len(sink) < active.limit:
                    sink.append(event)
                else:  # several recordings, one limited to some aliases, or a full one
                    _deliver(active.recordings, event)
        except Exception:  # capture must never break a query
            _capture_failed(active, context)


def _rendered(sql: Any, connection: Any) -> str:
    """The text of SQL given as something else than a ``str``, as the server receives it."""
    if isinstance(sql, bytes | bytearray | memoryview):
        return bytes(sql).decode("utf-8", "replace")
    as_string = getattr(sql, "as_string", None)  # psycopg 3's sql.Composable
    if as_string is not None:
        try:
            return str(as_string(connection.connection))
        except Exception:
            logger.debug("perfaudit could not render %r", type(sql), exc_info=True)
    return str(sql)


def _capture_failed(active: _Active, context: dict[str, Any]) -> None:
    """Count the query that could not be recorded; log the first failure of the process."""
    global _store_failures
    _store_failures += 1
    try:
        alias = getattr(context.get("connection"), "alias", None)
        for rec in active.recordings:
            if rec.using is None or alias in rec.using:
                rec.overflow += 1
    except Exception:  # pragma: no cover - nothing more can be done
        pass
    if _store_failures == 1:
        logger.warning(
            "perfaudit could not record a query; it is counted but not kept "
            "(further failures are logged at DEBUG)",
            exc_info=True,
        )
    else:
        logger.debug("perfaudit could not record a query", exc_info=True)


def _deliver(recordings: tuple[Recording, ...], event: _RawEvent) -> None:
    alias = event[3]
    for rec in recordings:
        if rec.using is not None and alias not in rec.using:
            continue
        raw = rec._raw
        if len(raw) >= rec._max:
            rec.overflow += 1
        elif rec._keep_params or event[1] is None:
            raw.append(event)
        else:
            raw.append((event[0], None, *event[2:]))


# -- installing the wrapper ---------------------------------------------------

_install_lock = threading.Lock()
_installed = False
# Set in each thread once install() has wrapped what that thread had opened.
_thread_installed = threading.local()


# The DB-API connection a wrapper had once Django finished setting it up
# (``connection_created`` is sent after ``init_connection_state()``).
_ESTABLISHED: Final = "_perfaudit_established"


def _ensure_wrapped(connection: BaseDatabaseWrapper) -> None:
    if not hasattr(connection, _ESTABLISHED):
        # Set before the wrapper goes in: the hot path reads it unguarded. A
        # connection already open was set up before perfaudit listened to
        # connection_created; ``None`` (not connected yet) never matches the
        # DB-API connection Django is setting up.
        setattr(connection, _ESTABLISHED, connection.connection)
    wrappers = connection.execute_wrappers
    if _dispatch not in wrappers:
        wrappers.insert(0, _dispatch)


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    _ensure_wrapped(connection)
    setattr(connection, _ESTABLISHED, connection.connection)


def _request_label(environ: Any, scope: Any) -> str:
    # Method and path only: a query string can hold tokens.
    if isinstance(environ, dict):
        method, path = environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "")
    elif isinstance(scope, dict):
        method, path = scope.get("method", "?"), scope.get("path", "")
    else:
        method, path = "?", ""
    return f"{method} {path}"


def _on_request_started(
    sender: object, environ: Any = None, scope: Any = None, **kwargs: Any
) -> None:
    """Mark where a request starts in the recordings of this context.

    A test body or a scenario making several client requests is one
    recording; the detectors judge each request on its own.
    """
    active = _ACTIVE.get()
    if active is None:
        return
    try:
        label = _request_label(environ, scope)
        for rec in active.recordings:
            rec._mark_request(label)
    except Exception:  # pragma: no cover - defensive: never break a request
        logger.debug("perfaudit could not mark a request start", exc_info=True)


def _on_request_finished(sender: object, **kwargs: Any) -> None:
    active = _ACTIVE.get()
    if active is None:
        return
    try:
        for rec in active.recordings:
            rec._mark_request(None)
    except Exception:  # pragma: no cover - defensive
        logger.debug("perfaudit could not mark a request end", exc_info=True)


def install() -> None:
    """Hook perfaudit into every connection of this process (idempotent).

    Called by the app's ``ready()`` and by :func:`record`. When no recording is
    active the wrapper costs one context-variable lookup per query.
    """
    global _installed
    if not _installed:
        with _install_lock:
            if not _installed:
                connection_created.connect(
                    _on_connection_created, dispatch_uid="perfaudit.capture"
                )
                request_started.connect(_on_request_started, dispatch_uid="perfaudit.requests")
                request_finished.connect(_on_request_finished, dispatch_uid="perfaudit.requests")
                _installed = True
    from perfaudit.capture import cache, http

    if not getattr(_thread_installed, "done", False):
        # What this thread opened before perfaudit listened: connections,
        # and Django's caches. Later ones are wrapped as they are created
        # (connection_created, the cache handler's create_connection), so
        # once per thread suffices; record() also wraps its aliases' wrappers.
        for connection in connections.all(initialized_only=True):
            _ensure_wrapped(connection)
        cache.install()
        _thread_installed.done = True
    http.install()  # the HTTP clients imported since: two dict lookups when done


# -- the public entry point ---------------------------------------------------

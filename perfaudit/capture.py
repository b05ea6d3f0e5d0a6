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
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from time import perf_counter
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, ParamSpec, TypeVar, overload

from django.db import connections
from django.db.backends.signals import connection_created

from perfaudit.conf import app_settings, user_settings
from perfaudit.fingerprint import SqlShape, analyze, fingerprint

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "CallSite",
    "QueryEvent",
    "Recorder",
    "Recording",
    "active_recordings",
    "install",
    "record",
]

logger = logging.getLogger("perfaudit")

P = ParamSpec("P")
R = TypeVar("R")


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


# Raw event, as appended on the hot path:
# (sql, params, many, alias, start, end, error type, _SiteInfo | None)
_RawEvent = tuple[str, Any, bool, str, float, float, "type[BaseException] | None", Any]


# -- public data --------------------------------------------------------------


class CallSite(NamedTuple):
    """Where in application code a query was issued.

    A named tuple, so grouping thousands of events by call site is cheap.
    """

    filename: str
    lineno: int
    function: str

    @property
    def short_filename(self) -> str:
        """The file name relative to the current directory when it is below it."""
        return _short_filename(self.filename, os.getcwd())

    def __str__(self) -> str:
        return f"{self.short_filename}:{self.lineno} in {self.function}"


@functools.lru_cache(maxsize=2048)
def _short_filename(filename: str, cwd: str) -> str:
    # Cached: detectors format call sites thousands of times per recording.
    try:
        relative = os.path.relpath(filename, cwd)
    except ValueError:  # different drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


@dataclass(slots=True)
class QueryEvent:
    """One executed statement (treat it as read-only).

    ``duration`` and ``started_at`` are in seconds (``started_at`` counts from
    the start of the recording). ``error`` is the dotted name of the exception
    class when the query raised, else ``None``. ``params`` is ``None`` when
    parameter capture is switched off, and for an ``executemany`` whose
    parameters were a one-shot iterator (perfaudit never consumes it).
    ``origin`` names the DRF serializer field being rendered when the query
    ran (``"EventSerializer.venue"``), the most useful pointer when the
    query comes from DRF's own code (a nested serializer) rather than yours.

    Not frozen on purpose: a recording materialises thousands of events and a
    frozen dataclass costs several times more to build.
    """

    sql: str
    params: Any = None
    duration: float = 0.0
    alias: str = "default"
    many: bool = False
    callsite: CallSite | None = None
    error: str | None = None
    started_at: float = 0.0
    origin: str | None = None

    @property
    def duration_ms(self) -> float:
        return self.duration * 1000.0

    @property
    def fingerprint(self) -> str:
        """The SQL shape: equal for queries that differ only in values."""
        return fingerprint(self.sql)

    @property
    def shape(self) -> SqlShape:
        """The parsed statement: fingerprint, statement kind, tables read and written."""
        return analyze(self.sql)


class Recording:
    """The queries of one recorded block, in execution order.

    Filled by :func:`record`; can also be built by hand from events, which is
    how detectors are unit-tested::

        Recording([QueryEvent("SELECT 1"), QueryEvent("SELECT 2")])

    ``len(recording)`` is the number of queries *executed*, including those
    not kept because ``MAX_QUERIES`` was reached (counted in :attr:`overflow`),
    so a query count never under-reports.
    """

    def __init__(
        self,
        queries: Iterable[QueryEvent] = (),
        *,
        overflow: int = 0,
        duration: float | None = None,
        using: Collection[str] | None = None,
    ) -> None:
        self._events: list[QueryEvent] = list(queries)
        self._raw: list[_RawEvent] = []
        self.overflow = overflow
        self._duration = duration
        self.using: frozenset[str] | None = frozenset(using) if using is not None else None
        # Set by the recorder while the block runs.
        self._max = sys.maxsize
        self._keep_params = True
        self._policy: _FramePolicy | None = None
        self._t0 = 0.0
        self._t1: float | None = None

    # -- reading --

    @property
    def queries(self) -> list[QueryEvent]:
        """The kept events, materialised on first access after new queries ran."""
        raw = self._raw
        done = len(self._events)
        pending = len(raw)
        if done < pending:
            self._events.extend(_materialise(raw[i], self._t0) for i in range(done, pending))
        return self._events

    @property
    def duration(self) -> float | None:
        """Wall-clock seconds the block took; ``None`` while it is still running."""
        if self._duration is not None:
            return self._duration
        if self._t1 is not None:
            return self._t1 - self._t0
        return None

    @property
    def db_time(self) -> float:
        """Seconds spent in the kept queries."""
        return sum(event.duration for event in self.queries)

    def __len__(self) -> int:
        return max(len(self._raw), len(self._events)) + self.overflow

    def __iter__(self) -> Iterator[QueryEvent]:
        return iter(self.queries)

    def __getitem__(self, index: int) -> QueryEvent:
        return self.queries[index]

    def __repr__(self) -> str:
        return f"<Recording {len(self)} queries, {self.db_time * 1000:.1f} ms in DB>"


def _materialise(raw: _RawEvent, t0: float) -> QueryEvent:
    sql, params, many, alias, start, end, error, site_info = raw
    code, offset, origin = site_info if site_info is not None else (None, 0, None)
    # Positional arguments: measurably faster than keywords at this volume.
    return QueryEvent(
        sql,
        params,
        end - start,
        alias,
        many,
        _callsite(code, offset) if code is not None else None,
        f"{error.__module__}.{error.__qualname__}" if error is not None else None,
        start - t0 if t0 else 0.0,
        origin,
    )


# Call sites by (id(code), bytecode offset). Keyed by id because hashing a code
# object hashes its bytecode and constants (microseconds for a large function);
# the code objects are kept alive alongside, so an id cannot be reused while
# cached.
_CALLSITES: dict[tuple[int, int], CallSite] = {}
_CALLSITE_CODES: list[CodeType] = []
_MAX_CALLSITES = 8192


def _callsite(code: CodeType, offset: int) -> CallSite:
    key = (id(code), offset)
    site = _CALLSITES.get(key)
    if site is None:
        if len(_CALLSITES) >= _MAX_CALLSITES:
            _CALLSITES.clear()
            _CALLSITE_CODES.clear()
        lineno = _line_at(code, offset)
        site = _CALLSITES[key] = CallSite(code.co_filename, lineno, code.co_qualname)
        _CALLSITE_CODES.append(code)
    return site


def _line_at(code: CodeType, offset: int) -> int:
    """The source line of the instruction at ``offset``, as ``frame.f_lineno`` gives it.

    The hot path keeps ``frame.f_lasti`` (read in constant time) instead of
    ``frame.f_lineno``, which scans the line table: ~1.5 µs for a call at the
    end of a 300-line function on Python 3.11. The scan happens here, once
    per call site.
    """
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


# -- call-site attribution ----------------------------------------------------


def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is never "the application": stdlib and site-packages."""
    dirs: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            dirs.add(paths[key])
    with contextlib.suppress(AttributeError):  # old virtualenv's site.py lacks it
        dirs.update(site.getsitepackages())
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        dirs.add(user_site)
    expanded = {os.path.realpath(d) for d in dirs} | {os.path.abspath(d) for d in dirs}
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in expanded if d))


_LIBRARY_DIRS: Final = _library_dirs()
_ALWAYS_SKIPPED_MODULES: Final = ("django", "perfaudit", "asgiref", "debug_toolbar")


class _FramePolicy:
    """Decides, once per code object, whether a frame is library code.

    Decisions are cached by ``id(code)`` (hashing a code object is slow); the
    code objects are kept in ``codes`` so their ids stay unique while cached.
    """

    __slots__ = ("cache", "codes", "drf", "last_walk", "modules")

    _MAX_CACHE = 20_000

    def __init__(self, extra_modules: tuple[str, ...]) -> None:
        self.modules = _ALWAYS_SKIPPED_MODULES + extra_modules
        self.cache: dict[int, int] = {}
        self.codes: list[CodeType] = []
        self.drf: frozenset[int] = _drf_codes_now()
        # The code objects of the last walk that found an application frame
        # without passing a DRF field method: library codes, then the
        # application's.
        self.last_walk: tuple[CodeType, ...] = ()

    def is_library(self, code: CodeType, module: object) -> bool:
        filename = code.co_filename
        if filename.startswith("<frozen"):
            return True
        if module == "__main__" and os.path.basename(filename) == "manage.py":
            return True  # Django's entry point: runserver's own frames, not the app's
        if isinstance(module, str):
            for prefix in self.modules:
                if module == prefix or module.startswith(prefix + "."):
                    return True
        return filename.startswith(_LIBRARY_DIRS)

    def refresh(self) -> None:
        """Re-classify DRF's methods if DRF was imported since the cache was filled.

        Called when a block starts, not per query: looking DRF up in
        ``sys.modules`` on every query would cost as much as a frame.
        """
        if not self.drf and _drf_codes_now():
            self.drf = _drf_codes_now()
            self.cache.clear()
            self.codes.clear()
            self.last_walk = ()

    def user_frame(self, frame: FrameType | None) -> _SiteInfo | None:
        """The first application frame, and the DRF field being rendered on the way.

        The per-frame cost is what a call site costs, so the loop does the
        least it can. Consecutive queries mostly come through the same stack
        (an N+1 loop, a page of rows): while the frames' code objects are
        those of the last walk, an identity test per frame suffices (their
        classification cannot differ); from the first frame that differs on,
        one cache lookup per frame, library frames (the common case) going
        straight to the next one.
        """
        last = self.last_walk
        matched = 0
        if last:
            final = len(last) - 1
            while frame is not None and frame.f_code is last[matched]:
                if matched == final:
                    return last[final], frame.f_lasti, None
                matched += 1
                frame = frame.f_back
        walked = list(last[:matched])  # library frames so far, for the next walk
        known = self.cache.get
        origin = None
        through_drf = False
        while frame is not None:
            code = frame.f_code
            walked.append(code)
            state = known(id(code))
            if state is _LIBRARY:
                frame = frame.f_back
                continue
            if state is None:
                state = self._classify(code, frame.f_globals.get("__name__"))
                if state is _LIBRARY:
                    frame = frame.f_back
                    continue
            if state is _APP:
                # Through a DRF field method, the origin depends on the field
                # being rendered, not on the code: the next walk must look.
                self.last_walk = () if through_drf else tuple(walked)
                return code, frame.f_lasti, origin
            through_drf = True  # a DRF field method
            if origin is None:
                origin = _serializer_field(frame)
            frame = frame.f_back
        return (None, 0, origin) if origin is not None else None

    def _classify(self, code: CodeType, module: object) -> int:
        if id(code) in self.drf:
            state = _DRF_FIELD
        else:
            state = _LIBRARY if self.is_library(code, module) else _APP
        if len(self.cache) >= self._MAX_CACHE:
            self.cache.clear()
            self.codes.clear()
        self.cache[id(code)] = state
        self.codes.append(code)
        return state


# Frame states in the policy cache: one dict lookup per frame walked.
_APP, _LIBRARY, _DRF_FIELD = 0, 1, 2

# (code of the application frame or None, its bytecode offset (f_lasti), the
# DRF field or None)
_SiteInfo = tuple["CodeType | None", int, "str | None"]

_drf_codes: frozenset[int] = frozenset()
_drf_keep: list[object] = []


def _drf_codes_now() -> frozenset[int]:
    """Ids of the DRF methods whose ``self`` is the field being rendered.

    Looked up in ``sys.modules`` only: perfaudit never imports DRF itself.
    Returns the same object until DRF is first seen, so policies can tell by
    identity that they must re-classify.
    """
    global _drf_codes
    if _drf_codes or "rest_framework.serializers" not in sys.modules:
        return _drf_codes
    fields = sys.modules.get("rest_framework.fields")
    relations = sys.modules.get("rest_framework.relations")
    serializers = sys.modules["rest_framework.serializers"]
    functions = [
        getattr(getattr(fields, "Field", None), "get_attribute", None),
        getattr(getattr(relations, "RelatedField", None), "get_attribute", None),
        getattr(getattr(relations, "ManyRelatedField", None), "get_attribute", None),
        getattr(getattr(serializers, "ListSerializer", None), "to_representation", None),
    ]
    codes = [f.__code__ for f in functions if f is not None and hasattr(f, "__code__")]
    _drf_keep[:] = codes  # keep the ids valid
    _drf_codes = frozenset(id(code) for code in codes)
    return _drf_codes


def _serializer_field(frame: FrameType) -> str | None:
    field = frame.f_locals.get("self")
    name = getattr(field, "field_name", None)
    parent = getattr(field, "parent", None)
    if not name or parent is None:
        return None
    if type(parent).__name__ == "ListSerializer":  # a many=True child: name its serializer
        parent = getattr(parent, "child", parent)
    return f"{type(parent).__name__}.{name}"


_policies: dict[tuple[str, ...], _FramePolicy] = {}


def _policy_for(extra_modules: tuple[str, ...]) -> _FramePolicy:
    policy = _policies.get(extra_modules)
    if policy is None:
        policy = _policies.setdefault(extra_modules, _FramePolicy(extra_modules))
    return policy


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
        except Exception:  # pragma: no cover - defensive: capture must never break a query
            global _store_failures
            _store_failures += 1
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
                _installed = True
    for connection in connections.all(initialized_only=True):
        _ensure_wrapped(connection)


# -- the public entry point ---------------------------------------------------


@dataclass
class Recorder:
    """Context manager and decorator returned by :func:`record`."""

    using: frozenset[str] | None = None
    callsites: bool | None = None
    params: bool | None = None
    max_queries: int | None = None
    recording: Recording | None = field(default=None, init=False)
    _stack: list[tuple[Recording, Token[_Active | None]]] = field(
        default_factory=list, init=False, repr=False
    )

    def __enter__(self) -> Recording:
        install()
        aliases = self.using if self.using is not None else frozenset(connections)
        for alias in aliases:
            _ensure_wrapped(connections[alias])
        rec = Recording(using=self.using)
        raw = user_settings()  # read PERFAUDIT once, not once per key

        def setting(name: str) -> Any:
            return app_settings.get(name, raw=raw)

        rec._max = self.max_queries if self.max_queries is not None else setting("MAX_QUERIES")
        rec._keep_params = self.params if self.params is not None else setting("CAPTURE_PARAMS")
        callsites = self.callsites if self.callsites is not None else setting("CAPTURE_CALLSITES")
        if callsites:
            rec._policy = _policy_for(tuple(setting("CALLSITE_SKIP_MODULES")))
            rec._policy.refresh()
        rec._t0 = perf_counter()
        token = _ACTIVE.set(_Active((*active_recordings(), rec)))
        self._stack.append((rec, token))
        self.recording = rec
        return rec

    def __exit__(self, *exc_info: object) -> None:
        rec, token = self._stack.pop()
        rec._t1 = perf_counter()
        try:
            _ACTIVE.reset(token)
        except ValueError:
            # Exited in another context than it was entered in (e.g. a task
            # switch): remove just this recording, keep the others.
            others = tuple(r for r in active_recordings() if r is not rec)
            _ACTIVE.set(_Active(others) if others else None)

    def _fresh(self) -> Recorder:
        return Recorder(self.using, self.callsites, self.params, self.max_queries)

    @overload
    def __call__(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate ``func`` so each call is recorded; ``self.recording`` keeps the last."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                inner = self._fresh()
                try:
                    with inner:
                        return await func(*args, **kwargs)
                finally:
                    self.recording = inner.recording

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            inner = self._fresh()
            try:
                with inner:
                    return func(*args, **kwargs)
            finally:
                self.recording = inner.recording

        return wrapper


def record(
    *,
    using: str | Iterable[str] | None = None,
    callsites: bool | None = None,
    params: bool | None = None,
    max_queries: int | None = None,
) -> Recorder:
    """Record every query run inside a ``with`` block or a decorated function.

    ::

        with perfaudit.record() as rec:
            list(Book.objects.select_related("author"))
        assert len(rec) == 1

    ``using`` limits recording to some database aliases (default: all).
    ``callsites``, ``params`` and ``max_queries`` override the
    ``CAPTURE_CALLSITES``, ``CAPTURE_PARAMS`` and ``MAX_QUERIES`` settings for
    this block. Only queries of the current thread or asyncio task (and of the
    work it starts with a copied context, such as ``sync_to_async``) are
    recorded; nested blocks all see the queries of the innermost one.
    """
    aliases: frozenset[str] | None
    if using is None:
        aliases = None
    else:
        aliases = frozenset([using] if isinstance(using, str) else using)
        unknown = sorted(aliases - set(connections))
        if unknown:
            raise ValueError(
                f"perfaudit.record(using=...) names unknown database aliases {unknown}; "
                f"configured aliases are {sorted(connections)}."
            )
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"perfaudit.record(max_queries=...) must be >= 1, got {max_queries}.")
    return Recorder(aliases, callsites, params, max_queries)

"""``perfaudit.record()``: the context manager and decorator users type."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable
from contextvars import Token
from dataclasses import dataclass, field
from time import perf_counter, thread_time
from typing import Any, ParamSpec, TypeVar, overload

from django.db import connections

from perfaudit.capture.callsites import _policy_for
from perfaudit.capture.hook import _ACTIVE, _Active, _ensure_wrapped, active_recordings, install
from perfaudit.capture.types import Recording
from perfaudit.conf import app_settings

__all__ = ["Recorder", "record"]

P = ParamSpec("P")
R = TypeVar("R")


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
    _cpu_start: list[tuple[int, float] | None] = field(
        default_factory=list, init=False, repr=False
    )

    def __enter__(self) -> Recording:
        install()
        aliases = self.using if self.using is not None else frozenset(connections)
        for alias in aliases:
            _ensure_wrapped(connections[alias])
        rec = Recording(using=self.using)
        setting = app_settings.values()  # PERFAUDIT read once, not once per key
        rec._max = self.max_queries if self.max_queries is not None else setting["MAX_QUERIES"]
        rec._keep_params = self.params if self.params is not None else setting["CAPTURE_PARAMS"]
        callsites = self.callsites if self.callsites is not None else setting["CAPTURE_CALLSITES"]
        if callsites:
            rec._policy = _policy_for(tuple(setting["CALLSITE_SKIP_MODULES"]))
            rec._policy.refresh()
        rec._http_urls = bool(setting["CAPTURE_HTTP_URLS"])
        rec._t0 = perf_counter()
        self._cpu_start.append(_cpu_start())
        token = _ACTIVE.set(_Active((*active_recordings(), rec)))
        self._stack.append((rec, token))
        self.recording = rec
        return rec

    def __exit__(self, *exc_info: object) -> None:
        rec, token = self._stack.pop()
        rec._t1 = perf_counter()
        if rec._policy is not None:
            rec._policy.release()  # the frames of this block's last query
        started = self._cpu_start.pop()
        if started is not None and started[0] == threading.get_ident():
            rec._cpu = thread_time() - started[1]
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


def _cpu_start() -> tuple[int, float] | None:
    """(thread, CPU seconds so far), or ``None`` on an event loop.

    The thread's CPU clock is the request's CPU time for a sync view. On an
    event loop the thread also runs other tasks, and ``sync_to_async`` work
    runs on another thread: there is no honest per-task figure, so none.
    """
    # The non-raising form of get_running_loop(): a raised and caught
    # RuntimeError per request costs a microsecond.
    if asyncio._get_running_loop() is None:
        return threading.get_ident(), thread_time()
    return None


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

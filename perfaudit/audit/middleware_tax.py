"""The middleware tax: what each entry of ``MIDDLEWARE`` costs a request.

Used by ``audit`` and ``compare`` in their throwaway environment only:
:func:`timed_middleware` overrides ``MIDDLEWARE`` in process (the settings
file is never touched) with one stand-in per entry, each building the real
middleware around a timer. Django builds the chain exactly as it would
(same order, same sync/async capabilities, ``MiddlewareNotUsed`` honoured),
so the stand-ins change only what is measured:

* a middleware's cost is the time inside it minus the time of the rest of
  the chain it called, plus its ``process_view`` / ``process_exception`` /
  ``process_template_response`` hooks;
* :func:`unused` names the middlewares whose work this request never used,
  from what Django leaves on the request: a session loaded that the view
  never read (or read for a view authenticated otherwise, e.g. by token),
  ``request.user`` never evaluated, CSRF on a safe method or an exempt view,
  messages never read or added.

With no :func:`ledger` open (any request outside a measured one) the
stand-ins only pass the calls through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from time import perf_counter
from typing import Any, Final

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

__all__ = [
    "Tax",
    "active_paths",
    "ledger",
    "median_report",
    "report",
    "timed_middleware",
    "unused",
]

_SLOTS: dict[str, _Timed] = {}
_PATHS: list[list[str]] = []
# Per middleware index: [seconds inside, seconds downstream, seconds in hooks].
_LEDGER: Final[ContextVar[list[list[float]] | None]] = ContextVar(
    "perfaudit_middleware_ledger", default=None
)
_HOOKS: Final = ("process_view", "process_exception", "process_template_response")
_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _add(index: int, slot: int, seconds: float) -> None:
    book = _LEDGER.get()
    if book is not None and index < len(book):
        book[index][slot] += seconds


class _Timed:
    """A ``MIDDLEWARE`` entry that builds the real middleware between two timers."""

    def __init__(self, index: int, path: str) -> None:
        from django.utils.module_loading import import_string

        self.index, self.path = index, path
        self.factory = import_string(path)
        self.sync_capable = getattr(self.factory, "sync_capable", True)
        self.async_capable = getattr(self.factory, "async_capable", False)

    def __call__(self, get_response: Callable[..., Any]) -> Any:
        index = self.index
        if iscoroutinefunction(get_response):

            async def downstream_async(request: Any) -> Any:
                start = perf_counter()
                try:
                    return await get_response(request)
                finally:
                    _add(index, 1, perf_counter() - start)

            inner: Callable[..., Any] = markcoroutinefunction(downstream_async)
        else:

            def downstream(request: Any) -> Any:
                start = perf_counter()
                try:
                    return get_response(request)
                finally:
                    _add(index, 1, perf_counter() - start)

            inner = downstream
        instance = self.factory(inner)  # may raise MiddlewareNotUsed: Django skips it
        return _outer(instance, index)


def _outer(instance: Any, index: int) -> Any:
    if iscoroutinefunction(instance):

        async def call_async(request: Any) -> Any:
            start = perf_counter()
            try:
                return await instance(request)
            finally:
                _add(index, 0, perf_counter() - start)

        wrapper: Any = markcoroutinefunction(call_async)
    else:

        def call(request: Any) -> Any:
            start = perf_counter()
            try:
                return instance(request)
            finally:
                _add(index, 0, perf_counter() - start)

        wrapper = call
    for name in _HOOKS:  # Django looks them up with hasattr: expose only the real ones
        hook = getattr(instance, name, None)
        if hook is not None:
            setattr(wrapper, name, _timed_hook(hook, index))
    return wrapper


def _timed_hook(hook: Callable[..., Any], index: int) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return hook(*args, **kwargs)
        finally:
            _add(index, 2, perf_counter() - start)

    return timed


def __getattr__(name: str) -> Any:
    """``import_string("perfaudit.audit.middleware_tax.M0")`` finds the stand-ins."""
    try:
        return _SLOTS[name]
    except KeyError:
        raise AttributeError(name) from None


@contextlib.contextmanager
def timed_middleware() -> Iterator[list[str]]:
    """Replace ``MIDDLEWARE`` by timed stand-ins for the block; yields the real paths."""
    from django.conf import settings
    from django.test.utils import override_settings

    paths = [str(path) for path in settings.MIDDLEWARE]
    slots = {f"M{i}": _Timed(i, path) for i, path in enumerate(paths)}
    _SLOTS.update(slots)
    _PATHS.append(paths)
    try:
        with override_settings(MIDDLEWARE=[f"{__name__}.{name}" for name in slots]):
            yield paths
    finally:
        _PATHS.pop()
        for name in slots:
            _SLOTS.pop(name, None)


def active_paths() -> list[str] | None:
    """The real ``MIDDLEWARE`` while :func:`timed_middleware` is on, else ``None``."""
    return _PATHS[-1] if _PATHS else None


class Tax:
    """The seconds each middleware spent on one request (filled while the ledger is open)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.book: list[list[float]] = [[0.0, 0.0, 0.0] for _ in paths]

    def costs(self) -> list[float]:
        """Milliseconds per middleware: inside, minus downstream, plus its hooks."""
        return [max(inside - down, 0.0) * 1000 + hooks * 1000 for inside, down, hooks in self.book]


@contextlib.contextmanager
def ledger(paths: list[str]) -> Iterator[Tax]:
    """Measure the middleware of the requests made in the block (this thread or task)."""
    tax = Tax(paths)
    token = _LEDGER.set(tax.book)
    try:
        yield tax
    finally:
        _LEDGER.reset(token)


def unused(path: str, request: Any, response: Any) -> str | None:
    """Why ``path``'s work went unused by this request, or ``None`` (used, or unknown)."""
    name = path.rsplit(".", 1)[-1]
    if request is None:
        return None
    drf = getattr(response, "renderer_context", None) or {}
    authenticator = getattr(drf.get("request"), "successful_authenticator", None)
    by_token = authenticator is not None and "Session" not in type(authenticator).__name__
    if name == "SessionMiddleware":
        session = getattr(request, "session", None)
        if session is not None and not session.accessed:
            return "the session was never read"
        if by_token:
            return (
                f"the session was loaded, but the view authenticated by "
                f"{type(authenticator).__name__}"
            )
    elif name == "AuthenticationMiddleware":
        user = request.__dict__.get("user")
        if user is not None and getattr(user, "_wrapped", None) is _empty():
            return "request.user was never evaluated"
        if by_token:
            return f"the view authenticated by {type(authenticator).__name__}"
    elif name == "CsrfViewMiddleware":
        match = getattr(request, "resolver_match", None)
        if match is not None and getattr(match.func, "csrf_exempt", False):
            return "the view is csrf_exempt"
        if request.method in _SAFE and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
            return f"a {request.method} request that used no CSRF token"
    elif name == "MessageMiddleware":
        storage = getattr(request, "_messages", None)
        if storage is not None and not storage.used and not storage.added_new:
            return "no message was read or added"
    return None


def _empty() -> object:
    from django.utils.functional import empty

    return empty


def report(tax: Tax, request: Any, response: Any) -> list[dict[str, Any]]:
    """Per middleware: its dotted path, milliseconds, and why its work went unused."""
    return [
        {"name": path, "ms": round(ms, 3), "unused": unused(path, request, response)}
        for path, ms in zip(tax.paths, tax.costs(), strict=True)
    ]


def median_report(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One report over several runs of a request: median milliseconds, first run's reasons."""
    if not runs:
        return []
    merged = []
    for i, first in enumerate(runs[0]):
        values = sorted(run[i]["ms"] for run in runs if i < len(run))
        middle = len(values) // 2
        ms = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        merged.append({**first, "ms": round(ms, 3)})
    return merged

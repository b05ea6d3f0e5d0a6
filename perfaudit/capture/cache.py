"""Record the Django cache calls a block makes, on every cache alias.

How it works, and why:

* Django builds one backend object per alias and thread in
  ``caches.create_connection``; perfaudit wraps that method once (on the
  ``caches`` handler object, never in the user's settings) so every backend
  object it returns gets instance attributes that shadow its operations
  (``get``, ``get_many``, ``set``, ``incr``, ``get_or_set``, their ``a…``
  async twins, …). The objects that already exist in this thread are wrapped
  when :func:`install` runs. The alias is bound into each wrapper: the
  backend itself does not know it.
* With nothing recording, a wrapper costs one context-variable lookup and
  the call. While recording it times the call, notes hit or miss, and
  appends one tuple to each active recording.
* Nested calls are not recorded twice: ``get_or_set`` calls ``get`` and
  ``add`` inside, the ``a…`` methods run the sync one through
  ``sync_to_async``; a context variable marks "inside a recorded call". The
  value function of ``get_or_set`` runs outside that mark, so its own cache
  calls are recorded (its queries always are).
* Hit or miss is read without changing what the caller sees: ``get`` asks
  the backend with a private sentinel as the default and hands back the
  caller's default on a miss; ``get_or_set`` wraps the default so perfaudit
  knows whether the backend had to compute it.
* A failing call (a cache server down) is recorded with its error and the
  exception propagates unchanged; a bookkeeping error is logged at DEBUG.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from perfaudit.capture.hook import _ACTIVE, _Active

if TYPE_CHECKING:
    from perfaudit.capture.events import _RawCache

__all__ = ["install"]

logger = logging.getLogger("perfaudit")

# What each operation's arguments and result mean for hit/miss and the key.
_GET, _MANY_READ, _HAS, _GET_OR_SET, _ONE, _MANY, _DATA, _COUNTER, _NONE = range(9)

_OPS: Final[dict[str, int]] = {
    "get": _GET,
    "get_many": _MANY_READ,
    "has_key": _HAS,
    "get_or_set": _GET_OR_SET,
    "set": _ONE,
    "add": _ONE,
    "touch": _ONE,
    "delete": _ONE,
    "incr": _COUNTER,
    "decr": _COUNTER,
    "set_many": _DATA,
    "delete_many": _MANY,
    "clear": _NONE,
}

_WRAPPED: Final = "_perfaudit_cache_alias"
_IN_CALL: Final[ContextVar[bool]] = ContextVar("perfaudit_in_cache_call", default=False)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<perfaudit: cache miss>"


_MISS: Final = _Missing()


class _Fill:
    """``get_or_set``'s default, noting whether the backend needed it (a miss)."""

    __slots__ = ("called", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.called = False

    def __call__(self) -> Any:
        self.called = True
        value = self.value
        if not callable(value):
            return value
        token = _IN_CALL.set(False)  # the value function's own cache calls are the user's
        try:
            return value()
        finally:
            _IN_CALL.reset(token)


# -- the wrappers -------------------------------------------------------------


def _prepare(kind: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """(args, kwargs, key, probe) to call the backend with; ``probe`` reads the outcome."""
    if kind == _GET and len(args) == 1 and not kwargs:  # cache.get(key): the common call
        return (args[0], _MISS), kwargs, args[0], None
    probe: Any = None
    if kind == _DATA:
        data = args[0] if args else kwargs.get("data", {})
        key: Any = tuple(data)
    elif kind in (_MANY_READ, _MANY):
        keys = args[0] if args else kwargs.get("keys", ())
        if not isinstance(keys, list | tuple | set | frozenset | dict):
            keys = list(keys)  # a one-shot iterator: read once, hand the list on
            args = (keys, *args[1:]) if args else args
            if "keys" in kwargs:
                kwargs = {**kwargs, "keys": keys}
        key = tuple(keys)
    elif kind == _NONE:
        key = None
    else:
        key = args[0] if args else kwargs.get("key")
    if kind == _GET:
        if len(args) > 1:
            probe, args = args[1], (args[0], _MISS, *args[2:])
        else:
            probe, kwargs = kwargs.get("default"), {**kwargs, "default": _MISS}
    elif kind == _GET_OR_SET:
        if len(args) > 1:
            probe = _Fill(args[1])
            args = (args[0], probe, *args[2:])
        elif "default" in kwargs:
            probe = _Fill(kwargs["default"])
            kwargs = {**kwargs, "default": probe}
    return args, kwargs, key, probe


def _outcome(kind: int, result: Any, probe: Any, key: Any) -> tuple[Any, int, int]:
    """(what the caller gets, hits, misses)."""
    if kind == _GET:
        return (probe, 0, 1) if result is _MISS else (result, 1, 0)
    if kind == _GET_OR_SET:
        missed = isinstance(probe, _Fill) and probe.called
        return result, int(not missed), int(missed)
    if kind == _MANY_READ:
        found = len(result) if isinstance(result, dict) else 0
        return result, found, max(len(key) - found, 0)
    if kind == _HAS:
        return result, int(bool(result)), int(not result)
    return result, 0, 0


def _store(
    active: _Active,
    alias: str,
    op: str,
    key: Any,
    hits: int,
    misses: int,
    start: float,
    end: float,
    error: type[BaseException] | None,
) -> None:
    try:
        policy = active.policy
        # Frames: 0 _store, 1 _call/_acall, 2 the wrapper, 3 the caller.
        site = policy.user_frame(sys._getframe(3)) if policy is not None else None
        event: _RawCache = (alias, op, key, hits, misses, start, end, error, site)
        for rec in active.recordings:
            if len(rec._cache_raw) < rec._max:
                rec._cache_raw.append(event)
            else:
                rec.side_overflow += 1
    except Exception:  # pragma: no cover - defensive: capture never breaks a cache call
        logger.debug("perfaudit could not record a cache call", exc_info=True)


def _call(
    active: _Active,
    original: Callable[..., Any],
    alias: str,
    op: str,
    kind: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call_args, call_kwargs, key, probe = _prepare(kind, args, kwargs)
    token = _IN_CALL.set(True)
    start = perf_counter()
    try:
        result = original(*call_args, **call_kwargs)
    except BaseException as exc:
        end = perf_counter()
        _IN_CALL.reset(token)
        _store(active, alias, op, key, 0, 0, start, end, type(exc))
        raise
    end = perf_counter()
    _IN_CALL.reset(token)
    value, hits, misses = _outcome(kind, result, probe, key)
    _store(active, alias, op, key, hits, misses, start, end, None)
    return value


async def _acall(
    active: _Active,
    original: Callable[..., Any],
    alias: str,
    op: str,
    kind: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call_args, call_kwargs, key, probe = _prepare(kind, args, kwargs)
    token = _IN_CALL.set(True)
    start = perf_counter()
    try:
        result = await original(*call_args, **call_kwargs)
    except BaseException as exc:
        end = perf_counter()
        _IN_CALL.reset(token)
        _store(active, alias, op, key, 0, 0, start, end, type(exc))
        raise
    end = perf_counter()
    _IN_CALL.reset(token)
    value, hits, misses = _outcome(kind, result, probe, key)
    _store(active, alias, op, key, hits, misses, start, end, None)
    return value


def _sync_wrapper(original: Callable[..., Any], alias: str, op: str, kind: int) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        active = _ACTIVE.get()
        if active is None or _IN_CALL.get():
            return original(*args, **kwargs)
        return _call(active, original, alias, op, kind, args, kwargs)

    _look_like(wrapper, original)
    return wrapper


def _async_wrapper(original: Callable[..., Any], alias: str, op: str, kind: int) -> Any:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        active = _ACTIVE.get()
        if active is None or _IN_CALL.get():
            return await original(*args, **kwargs)
        return await _acall(active, original, alias, op, kind, args, kwargs)

    _look_like(wrapper, original)
    return wrapper


def _look_like(wrapper: Any, original: Callable[..., Any]) -> None:
    """Make the instance attribute answer what Django asks of a bound method.

    Django (6.0+) decides how ``aget_or_set`` runs with
    ``self.get_or_set.__func__ is not BaseCache.get_or_set``: the wrapper
    carries the original's ``__func__`` and ``__self__``, so that test (and
    the caller's result) is what it would be without perfaudit.
    """
    wrapper.__wrapped__ = original
    wrapper.__func__ = getattr(original, "__func__", original)
    self_ = getattr(original, "__self__", None)
    if self_ is not None:
        wrapper.__self__ = self_


def wrap_backend(backend: Any, alias: str) -> None:
    """Shadow ``backend``'s operations with recording wrappers (once per object)."""
    if getattr(backend, _WRAPPED, None) is not None:
        return
    try:
        wrappers = {}
        for op, kind in _OPS.items():
            for name, make in ((op, _sync_wrapper), ("a" + op, _async_wrapper)):
                original = getattr(backend, name, None)
                if original is None or not callable(original):
                    continue
                if make is _async_wrapper and not inspect.iscoroutinefunction(original):
                    continue
                wrappers[name] = make(original, alias, op, kind)
        for name, wrapper in wrappers.items():
            setattr(backend, name, wrapper)
        setattr(backend, _WRAPPED, alias)
    except Exception:  # e.g. a backend with __slots__: left unrecorded
        logger.debug("perfaudit could not wrap the %r cache", alias, exc_info=True)


# -- installing ---------------------------------------------------------------

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Wrap every cache backend Django creates from now on, and this thread's
    existing ones (idempotent; cheap after the first call)."""
    global _installed
    from django.core.cache import caches

    if not _installed:
        with _lock:
            if not _installed:
                create = caches.create_connection

                def create_connection(alias: str) -> Any:
                    backend = create(alias)
                    wrap_backend(backend, alias)
                    return backend

                caches.create_connection = create_connection  # type: ignore[method-assign]
                _installed = True
    try:
        for backend in caches.all(initialized_only=True):
            if getattr(backend, _WRAPPED, None) is None:
                alias = _alias_of(caches, backend)
                if alias is not None:
                    wrap_backend(backend, alias)
    except Exception:  # pragma: no cover - defensive
        logger.debug("perfaudit could not wrap the existing caches", exc_info=True)


def _alias_of(handler: Any, backend: Any) -> str | None:
    for alias in handler:
        if getattr(handler._connections, alias, None) is backend:
            return str(alias)
    return None

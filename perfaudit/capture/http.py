"""Record the outbound HTTP requests a block makes, through urllib3 and httpx.

Where it hooks, and why there:

* urllib3 (and so ``requests``): ``HTTPConnectionPool.urlopen``, the one
  method every request through a pool goes through (``HTTPSConnectionPool``
  inherits it). Its retries call it again; only the outermost call is
  recorded, so one request with two retries is one event whose duration
  covers them.
* httpx: ``HTTPTransport.handle_request`` and
  ``AsyncHTTPTransport.handle_async_request``, below redirects and auth
  (each hop is an event) and above the connection pool.

perfaudit never imports either library: :func:`install` patches the ones
already in ``sys.modules`` and is called again whenever a recording starts,
so a library imported later is hooked before the next recording. With
nothing recording a patched method costs one context-variable lookup.

Only method, scheme, host and port are kept (plus path and query string
with ``PERFAUDIT["CAPTURE_HTTP_URLS"]``); headers and bodies never are. A
failing request (connection refused, timeout) is recorded with its error
and the exception propagates unchanged.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from perfaudit.capture.hook import _ACTIVE, _Active

if TYPE_CHECKING:
    from perfaudit.capture.events import _RawHttp

__all__ = ["install"]

logger = logging.getLogger("perfaudit")

_IN_CALL: Final[ContextVar[bool]] = ContextVar("perfaudit_in_http_call", default=False)
_MARK: Final = "_perfaudit_original"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _origin(scheme: str, host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _store(
    active: _Active,
    client: str,
    method: str,
    url: str,
    status: int | None,
    start: float,
    end: float,
    error: type[BaseException] | None,
) -> None:
    try:
        policy = active.policy
        # Frames: 0 _store, 1 the patched method, 2 its caller (library code
        # up to the application: the walk skips it).
        site = policy.user_frame(sys._getframe(2)) if policy is not None else None
        event: _RawHttp = (client, method, url, status, start, end, error, site)
        for rec in active.recordings:
            if len(rec._http_raw) < rec._max:
                rec._http_raw.append(event)
            else:
                rec.side_overflow += 1
    except Exception:  # pragma: no cover - defensive: capture never breaks a request
        logger.debug("perfaudit could not record an HTTP request", exc_info=True)


def _full_urls(active: _Active) -> bool:
    for rec in active.recordings:  # noqa: SIM110 - on the hot path, cheaper than any()
        if rec._http_urls:
            return True
    return False


def _timed(
    active: _Active,
    client: str,
    method: str,
    url: str,
    status_attr: str,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    token = _IN_CALL.set(True)
    start = perf_counter()
    try:
        response = original(*args, **kwargs)
    except BaseException as exc:
        end = perf_counter()
        _IN_CALL.reset(token)
        _store(active, client, method, url, None, start, end, type(exc))
        raise
    end = perf_counter()
    _IN_CALL.reset(token)
    _store(active, client, method, url, getattr(response, status_attr, None), start, end, None)
    return response


async def _atimed(
    active: _Active,
    client: str,
    method: str,
    url: str,
    status_attr: str,
    original: Callable[..., Any],
    args: tuple[Any, ...],
) -> Any:
    token = _IN_CALL.set(True)
    start = perf_counter()
    try:
        response = await original(*args)
    except BaseException as exc:
        end = perf_counter()
        _IN_CALL.reset(token)
        _store(active, client, method, url, None, start, end, type(exc))
        raise
    end = perf_counter()
    _IN_CALL.reset(token)
    _store(active, client, method, url, getattr(response, status_attr, None), start, end, None)
    return response


def _mark(patched: Any, original: Callable[..., Any]) -> None:
    setattr(patched, _MARK, original)
    patched.__wrapped__ = original
    patched.__doc__ = original.__doc__


# -- urllib3 ------------------------------------------------------------------


def _urllib3_url(pool: Any, url: str, full: bool) -> str:
    origin = _origin(str(pool.scheme), str(pool.host), pool.port)
    if not full:
        return origin
    if "://" in url:  # a proxy request carries the absolute URL
        return url
    return origin + url


def _patch_urllib3(module: Any) -> None:
    pool_class = module.HTTPConnectionPool
    original: Callable[..., Any] = pool_class.urlopen
    if getattr(original, _MARK, None) is not None:
        return

    def urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        active = _ACTIVE.get()
        if active is None or _IN_CALL.get():
            return original(self, method, url, *args, **kwargs)
        target = _urllib3_url(self, url, _full_urls(active))
        call_args = (self, method, url, *args)
        return _timed(active, "urllib3", method, target, "status", original, call_args, kwargs)

    _mark(urlopen, original)
    pool_class.urlopen = urlopen


# -- httpx --------------------------------------------------------------------


def _httpx_url(request: Any, full: bool) -> str:
    url = request.url
    if full:
        return str(url)
    return _origin(str(url.scheme), str(url.host), url.port)


def _patch_httpx(module: Any) -> None:
    sync_class, async_class = module.HTTPTransport, module.AsyncHTTPTransport
    original: Callable[..., Any] = sync_class.handle_request
    original_async: Callable[..., Any] = async_class.handle_async_request
    if getattr(original, _MARK, None) is not None:
        return

    def handle_request(self: Any, request: Any) -> Any:
        active = _ACTIVE.get()
        if active is None or _IN_CALL.get():
            return original(self, request)
        target = _httpx_url(request, _full_urls(active))
        method = str(request.method)
        args = (self, request)
        return _timed(active, "httpx", method, target, "status_code", original, args, {})

    async def handle_async_request(self: Any, request: Any) -> Any:
        active = _ACTIVE.get()
        if active is None or _IN_CALL.get():
            return await original_async(self, request)
        target = _httpx_url(request, _full_urls(active))
        method = str(request.method)
        return await _atimed(
            active, "httpx-async", method, target, "status_code", original_async, (self, request)
        )

    _mark(handle_request, original)
    _mark(handle_async_request, original_async)
    sync_class.handle_request = handle_request
    async_class.handle_async_request = handle_async_request


# -- installing ---------------------------------------------------------------

_lock = threading.Lock()
_done: set[str] = set()
_PATCHES: Final[dict[str, Callable[[Any], None]]] = {
    "urllib3.connectionpool": _patch_urllib3,
    "httpx": _patch_httpx,
}


def install() -> None:
    """Patch the HTTP clients already imported (idempotent, two dict lookups when done)."""
    if len(_done) == len(_PATCHES):
        return
    modules = sys.modules
    for name, patch in _PATCHES.items():
        if name in _done or name not in modules:
            continue
        with _lock:
            if name in _done:
                continue
            try:
                patch(modules[name])
            except Exception:  # an unexpected version: left unrecorded
                logger.debug("perfaudit could not hook %s", name, exc_info=True)
            _done.add(name)

"""``PerfAuditMiddleware``: record each request's queries and report on them.

::

    MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware", ...]  # near the top

Per recorded request, before the response is returned: timing headers when
``settings.DEBUG`` is on or ``PERFAUDIT["HEADERS"]`` is set (and the payload
hash with ``PAYLOAD_HASH``). After the server has sent it (on
``response.close()``, see :mod:`perfaudit.web.deferred`): the detectors run,
the view's budget is checked, the request is logged on the ``perfaudit``
logger, added to the in-process store and to the JSONL file when configured.
``PERFAUDIT["RAISE"]`` needs the budget verdict before returning, so with it
all of this runs before the response is returned. See docs/middleware.md.

Two promises shape the code:

* It never turns a working request into a failing one. The view's own
  exception propagates unchanged (the recording is closed on the way out);
  an error in perfaudit's bookkeeping is logged and the response returned as
  it was. The one deliberate exception is :class:`BudgetExceeded`, raised only
  when the user asked for it with ``PERFAUDIT["RAISE"]``.
* Nothing recorded leaves the process unless asked: headers need DEBUG or
  ``HEADERS``; the JSONL file needs ``JSONL_PATH`` (and parameter values
  ``JSONL_PARAMS``). Log lines carry findings, which never hold parameter values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from perfaudit import capture
from perfaudit.conf import app_settings
from perfaudit.detect.budgets import Violation
from perfaudit.text import plural
from perfaudit.web import otel
from perfaudit.web.deferred import defer
from perfaudit.web.headers import PAYLOAD_HEADER, QUERIES_HEADER, SERVER_TIMING_HEADER, set_headers
from perfaudit.web.scope import excluded_path, excluded_view, in_test_environment
from perfaudit.web.store import RequestRecord, get_store, sampled, summarise, write_jsonl

if TYPE_CHECKING:
    from perfaudit.capture import Recorder, Recording

__all__ = [
    "PAYLOAD_HEADER",
    "QUERIES_HEADER",
    "SERVER_TIMING_HEADER",
    "BudgetExceeded",
    "PerfAuditMiddleware",
    "view_name",
]

logger = logging.getLogger("perfaudit")


# Findings spelled out in one log line; the rest are counted ("+2 more").
_LOGGED_FINDINGS: Final = 5

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class BudgetExceeded(Exception):
    """A view ran more queries or DB time than ``PERFAUDIT["BUDGETS"]`` allows.

    Raised by the middleware only when ``PERFAUDIT["RAISE"]`` is on (meant for
    development servers and test runs); otherwise violations are logged at
    WARNING. ``violations`` lists every limit exceeded.
    """

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__(
            "; ".join(str(v) for v in self.violations)
            + ". Make the view cheaper or raise its budget; set PERFAUDIT['RAISE'] = False "
            "to log budget violations instead of raising."
        )


def view_name(request: HttpRequest) -> str:
    """The name a request is aggregated under.

    ``resolver_match.view_name`` (``namespace:name``, or the view's dotted
    path when the URL pattern has no name), else the route pattern, else the
    path (a URL that resolved to no view, e.g. a 404).
    """
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return str(match.view_name or match.route or request.path)
    return request.path


@dataclass(frozen=True, slots=True)
class _Options:
    """The settings one request's reporting needs, read once."""

    headers: bool
    raise_: bool
    payload_hash: bool
    jsonl_path: str | None
    jsonl_params: bool
    sample_rate: float

    @classmethod
    def read(cls) -> _Options:
        """This request's options: built again only when a setting they come
        from changed (a dozen validated reads cost the request microseconds)."""
        global _options_cache
        debug = bool(settings.DEBUG)
        key = (app_settings.values(), debug, in_test_environment())
        cached = _options_cache
        if cached is not None and cached[0][0] is key[0] and cached[0][1:] == key[1:]:
            return cached[1]
        options = cls(
            headers=debug or app_settings.HEADERS,
            raise_=app_settings.RAISE,
            payload_hash=app_settings.PAYLOAD_HASH,
            # Test traffic never lands in the development file (see web/scope.py).
            jsonl_path=(
                app_settings.JSONL_PATH if app_settings.JSONL_IN_TESTS or not key[2] else None
            ),
            jsonl_params=app_settings.JSONL_PARAMS,
            sample_rate=1.0 if debug else app_settings.SAMPLE_RATE,
        )
        _options_cache = (key, options)
        return options


# ((validated settings, DEBUG, in a test environment), the options built from them)
_options_cache: tuple[tuple[Mapping[str, Any], bool, bool], _Options] | None = None


class PerfAuditMiddleware:
    """Record every (sampled) request and report its queries, findings and budget.

    Works under WSGI and ASGI without an extra thread hop: Django hands it a
    synchronous or an asynchronous ``get_response`` and it follows suit.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Tell Django this instance is a coroutine function, so it awaits
            # __call__'s result instead of wrapping us in async_to_sync.
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        get_response = cast(GetResponse, self.get_response)
        started = _start(request)
        if started is None:
            return get_response(request)
        recorder, recording = started
        try:
            response = get_response(request)
        finally:
            # Also when the view raises: the context variable is reset and
            # the exception propagates untouched.
            _stop(recorder)
        return _finish(request, response, recording)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response = cast(AsyncGetResponse, self.get_response)
        started = _start(request)
        if started is None:
            return await get_response(request)
        recorder, recording = started
        # The recording lives in this task's context; sync_to_async (the async
        # ORM, sync views) copies that context, so their queries land here.
        try:
            response = await get_response(request)
        finally:
            _stop(recorder)
        return _finish(request, response, recording)


def _start(request: HttpRequest) -> tuple[Recorder, Recording] | None:
    """An entered recorder and its recording, or ``None`` when the request is not
    sampled or its path is excluded."""
    try:
        if excluded_path(request.path):
            return None
        debug = bool(settings.DEBUG)
        if not sampled(debug=debug, rate=1.0 if debug else app_settings.SAMPLE_RATE):
            return None
        recorder = capture.record()
        recording = recorder.__enter__()
    except Exception:
        logger.exception("could not start recording; the request runs unrecorded")
        return None
    return recorder, recording


def _stop(recorder: Recorder) -> None:
    try:
        recorder.__exit__(None, None, None)
    except Exception:  # pragma: no cover - defensive: __exit__ only resets a contextvar
        logger.exception("could not stop recording")


def _finish(
    request: HttpRequest, response: HttpResponseBase, recording: Recording
) -> HttpResponseBase:
    """What the response needs now; the rest once the server has sent it.

    On the request path: the payload hash (it reads the body the view built)
    and the headers. Detectors, budget, store, JSONL and log line run on
    ``response.close()`` (:mod:`perfaudit.web.deferred`), except with
    ``RAISE``, whose exception needs the budget verdict before the response
    is returned.
    """
    try:
        if excluded_view(view_name(request)):
            return response  # the toolbar's own request, or PERFAUDIT["EXCLUDE"]
        options = _Options.read()
        payload = _payload_hash(response) if options.payload_hash else None
        status = response.status_code
        # Now, not deferred: the request span closes as the response passes it.
        otel.annotate_span(request, view_name(request), recording, sample_rate=options.sample_rate)
        if options.raise_:
            violations = _report(request, status, recording, options, payload)
        else:
            violations = ()
            work = functools.partial(_report, request, status, recording, options, payload)
            if not defer(response, work, f"{request.method} {request.path}"):
                violations = work()
        if options.headers:
            set_headers(response, recording, payload)
    except Exception:
        logger.exception(
            "reporting on %s %s failed; the response is returned unchanged",
            request.method,
            request.path,
        )
        return response
    if violations and options.raise_:
        raise BudgetExceeded(violations)
    return response


def _report(
    request: HttpRequest,
    status: int,
    recording: Recording,
    options: _Options,
    payload: str | None,
) -> tuple[Violation, ...]:
    """Format the recording's analysis: store, JSONL, log: everything that is not
    needed by the response itself."""
    view = view_name(request)
    keep_params = options.jsonl_params and options.jsonl_path is not None
    record = summarise(
        recording,
        view=view,
        method=request.method or "",
        path=request.path,
        status=status,
        payload=payload,
        sample_rate=options.sample_rate,
        keep_params=keep_params,
    )
    store = get_store()
    store.add(record)
    otel.record_metrics(request, view, recording.analysis)
    if options.jsonl_path is not None:
        dropped = store.take_unwritten_drops()
        write_jsonl(options.jsonl_path, record, params=options.jsonl_params, dropped=dropped)
    _log(record)
    return record.violations


def _payload_hash(response: HttpResponseBase) -> str | None:
    """The payload hash of the response as this middleware sees it, or ``None``.

    That is the body after rendering and after the middlewares listed *below*
    this one (they run first on the way out): placed first in ``MIDDLEWARE``
    it hashes what leaves Django. Status, content type and canonical body
    (``PayloadDigest.hash``); ``None`` for a streaming or unhashable response.
    """
    if getattr(response, "streaming", False):
        return None  # never touch streaming_content: the client has not read it yet
    try:
        from perfaudit.payload import digest

        return digest(response).hash
    except Exception:
        logger.exception("could not hash the payload of %s", type(response).__name__)
        return None


def _log(record: RequestRecord) -> None:
    """One line per request (INFO with findings or violations, DEBUG otherwise),
    plus a WARNING line for budget violations."""
    level = logging.INFO if record.findings or record.violations else logging.DEBUG
    if logger.isEnabledFor(level):
        logger.log(level, "%s", _summary_line(record), extra={"perfaudit": _extra(record)})
    if record.violations:
        logger.warning(
            "%s %s (%s) over budget: %s",
            record.method,
            record.path,
            record.view,
            "; ".join(str(v) for v in record.violations),
            extra={"perfaudit": _extra(record)},
        )


def _summary_line(record: RequestRecord) -> str:
    line = (
        f"{record.method} {record.path} ({record.view}) {record.status}: "
        f"{plural(record.queries, 'query', 'queries')}, {record.db_ms:.1f} ms DB, "
        f"{record.total_ms:.1f} ms total"
    )
    if record.findings:
        shown = [
            f"[{f.kind}/{f.severity}] {f.suggestion.rstrip('.')}"
            for f in record.findings[:_LOGGED_FINDINGS]
        ]
        more = len(record.findings) - len(shown)
        line += "; findings: " + " | ".join(shown) + (f" | +{more} more" if more else "")
    if record.violations:
        line += "; " + plural(len(record.violations), "budget violation", "budget violations")
    if record.payload is not None:
        line += f"; payload {record.payload}"
    return line


def _extra(record: RequestRecord) -> dict[str, Any]:
    """Structured data for JSON log handlers: the record minus its shapes' SQL."""
    data = record.to_dict(params=False)
    del data["shapes"]
    return data

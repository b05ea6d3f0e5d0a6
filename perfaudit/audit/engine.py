"""Run scenarios and collect what the audit reports: one data set, three formats.

:func:`run` expects the databases to be throwaway test databases already
(``perfaudit.scenarios.testdb``); ``manage.py perfaudit audit`` sets that up. For each
scenario it empties the databases (``flush``, sequences reset, so ids are the
same whichever scenarios run before), runs the set-up function in one
transaction (then ``ANALYZE`` on PostgreSQL), then makes each request with
Django's test ``Client`` inside ``perfaudit.record()``: queries, DB time, wall
time, detector findings, budget violations and the payload hash of the
response as sent (``--repeat``: volatile fields named, see ``volatile.py``).
"""

from __future__ import annotations

import json
import os
import sysconfig
import traceback
from collections.abc import Callable, Mapping, Sequence
from time import monotonic, perf_counter
from typing import Any, Final
from urllib.parse import urlencode

from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.http import HttpResponseBase
from django.test import Client
from django.urls import get_resolver

import perfaudit
from perfaudit.audit.middleware_tax import (
    active_paths,
    ledger,
    median_report,
    report,
    timed_middleware,
)
from perfaudit.audit.results import FORMAT_VERSION, AuditResult, RequestResult, ScenarioResult
from perfaudit.audit.volatile import recheck_payloads
from perfaudit.capture import record
from perfaudit.detect.analysis import Analysis
from perfaudit.payload import snapshot
from perfaudit.scenarios import SAFE_METHODS, Request, Scenario
from perfaudit.scenarios.environment import find_user

__all__ = ["FORMAT_VERSION", "AuditResult", "RequestResult", "ScenarioResult", "run"]

_LIBRARY_DIRS: Final = tuple(
    {
        os.path.realpath(path) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)
_PERFAUDIT_DIR: Final = os.path.dirname(os.path.realpath(perfaudit.__file__)) + os.sep


# -- running ------------------------------------------------------------------


def run(
    scenarios: Sequence[Scenario],
    *,
    repeat: int = 1,
    aliases: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    """Run ``scenarios`` against the current (test) databases, in order."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    aliases = list(connections) if aliases is None else list(aliases)
    # Import the URLconf, and the views with it, before the first request is
    # timed: a process's first request would otherwise carry those imports.
    get_resolver().url_patterns  # noqa: B018
    start = perf_counter()
    results = []
    with timed_middleware():  # the middleware tax, per request (audit/middleware_tax.py)
        for index, item in enumerate(scenarios, 1):
            if progress is not None:
                progress(f"[{index}/{len(scenarios)}] {item.name}")
            results.append(_run_scenario(item, repeat, aliases))
    return AuditResult(
        results, repeat, connections["default"].vendor, duration_s=perf_counter() - start
    )


def _reset(aliases: Sequence[str]) -> None:
    """Empty the databases, sequences included, as a fresh test database is."""
    for alias in aliases:
        call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=True)


def _run_scenario(item: Scenario, repeat: int, aliases: Sequence[str]) -> ScenarioResult:
    result = ScenarioResult(item)
    _reset(aliases)
    start = perf_counter()
    try:
        with transaction.atomic():
            context = item.setup()
    except Exception as exc:
        result.error = (
            f"scenario {item.name!r}: set-up {item.origin} raised {_describe(exc)}; "
            "fix the set-up function."
        )
        return result
    finally:
        result.setup_ms = (perf_counter() - start) * 1000
    _analyze(aliases)
    if context is not None and not isinstance(context, Mapping):
        result.error = (
            f"scenario {item.name!r}: set-up {item.origin} returned "
            f"{type(context).__name__}; return None, or a dict that fills the "
            "{placeholders} of the request paths."
        )
        return result
    for request in item.requests:
        result.requests.append(_run_request(item, request, context or {}, repeat))
    if repeat > 1:
        recheck_payloads(item.name, result.requests, _send)
    for request_result in result.requests:
        request_result.client = None  # the re-check is done: let the client go
    return result


def _analyze(aliases: Sequence[str]) -> None:
    """Give PostgreSQL's planner statistics on the new rows, as autovacuum would.

    Without them a freshly filled database is planned as if its tables were
    empty, and the timings would describe plans production never runs.
    """
    for alias in aliases:
        connection = connections[alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")


def _run_request(
    item: Scenario, request: Request, context: Mapping[str, Any], repeat: int
) -> RequestResult:
    prefix = f"scenario {item.name!r}, {request.label}"
    try:
        request = request.resolve(context)
    except (KeyError, IndexError) as exc:
        return RequestResult(
            request,
            error=f"{prefix}: the path needs {{{exc.args[0]}}}, which the set-up did not "
            f"return; return {{{exc.args[0]!r}: ...}} from {item.origin}.",
        )
    except ValueError as exc:  # a malformed placeholder, or a value making the path invalid
        return RequestResult(
            request,
            error=f"{prefix}: cannot fill the placeholders of the path ({exc}); use "
            "{name} placeholders, and write literal braces as {{ and }}.",
        )
    prefix = f"scenario {item.name!r}, {request.label}"
    result = RequestResult(request)
    client = Client()
    if request.user is not None:
        user = find_user(request.user)
        if user is None:
            result.error = (
                f"{prefix}: logs in as {request.user!r}, but the set-up created no such "
                f"user; create it in {item.origin}."
            )
            return result
        client.force_login(user)

    runs = repeat if request.method in SAFE_METHODS else 1
    first: HttpResponseBase | None = None
    result.client = client
    taxes: list[list[dict[str, Any]]] = []
    for _ in range(runs):
        error: Exception | None = None
        with record() as recording, ledger(active_paths() or []) as tax:
            try:
                response = _send(client, request)
            except Exception as exc:
                error = exc
        result.query_counts.append(len(recording))
        if error is not None:
            result.error = (
                f"{prefix}: the view raised {_describe(error)}; fix the view, or the "
                "scenario's data."
            )
            return result
        result.db_ms_runs.append(recording.db_time * 1000)
        result.total_ms_runs.append((recording.duration or 0.0) * 1000)
        _split(result, recording.analysis)
        taxes.append(report(tax, getattr(response, "wsgi_request", None), response))
        result.middleware = median_report(taxes)
        payload, snap = snapshot(response)
        if first is None:
            first = response
            result.snapshots.append(snap)
            result.first_run_at = monotonic()
            result.status = response.status_code
            result.view_name = _view_name(response)
            result.payload = payload
            analysis = recording.analysis
            result.findings = analysis.findings
            result.shapes = [shape.to_dict() for shape in analysis.shapes]
            result.violations = analysis.violations(result.view_name)
            if not request.accepts(response.status_code):
                kind = "a server error " if response.status_code >= 500 else ""
                result.error = (
                    f"{prefix}: expected {request.expected}, got {kind}{response.status_code}; "
                    "fix the view or the scenario's data, or declare "
                    f"status={response.status_code} on the Request if that is intended."
                )
                return result
        elif len(result.snapshots) < 2 and snap.hash != result.snapshots[0].hash:
            # Volatile or not is decided once the re-check ran (audit/volatile.py).
            result.snapshots.append(snap)
    if len(set(result.query_counts)) > 1:
        counts = ", ".join(str(n) for n in result.query_counts)
        result.error = (
            f"{prefix}: the query count changed between --repeat runs ({counts}); something "
            "is cached between requests or the request changes data. Warm or clear that "
            "cache in the set-up, or audit with --repeat 1."
        )
    return result


def _split(result: RequestResult, analysis: Analysis) -> None:
    """Cache, HTTP and CPU time of one run (and the first run's detail)."""
    result.cache_ms_runs.append(analysis.cache.ms)
    result.http_ms_runs.append(analysis.http.ms)
    if analysis.cpu_ms is not None:
        result.cpu_ms_runs.append(analysis.cpu_ms)
    if result.cache is None:
        result.cache = analysis.cache.to_dict()
        result.http = analysis.http.to_dict()


def _send(client: Client, request: Request) -> HttpResponseBase:
    body: str | bytes = ""
    content_type = request.content_type or "application/octet-stream"
    data = request.data
    if isinstance(data, str | bytes):
        body = data
        content_type = request.content_type or "text/plain; charset=utf-8"
    elif data is not None:
        if request.content_type == "application/x-www-form-urlencoded":
            body = urlencode(data, doseq=True)
        else:
            body = json.dumps(data, cls=DjangoJSONEncoder)
            content_type = request.content_type or "application/json"
    response: HttpResponseBase = client.generic(
        request.method,
        request.full_path,
        body,
        content_type,
        headers=dict(request.headers) or None,
    )
    return response


def _view_name(response: HttpResponseBase) -> str | None:
    match = getattr(response, "resolver_match", None)
    try:
        name = match.view_name if match is not None else None
    except Exception:  # a 404: the lazy resolver_match cannot resolve the path
        return None
    return str(name) if name else None


def _describe(exc: BaseException) -> str:
    """``ValueError: message (at app/views.py:12)``, one line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = _user_frame(exc)
    return f"{text} (at {where})" if where else text


def _user_frame(exc: BaseException) -> str | None:
    """The innermost traceback frame in the project's code (not a library's)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        filename = os.path.realpath(frame.filename)
        if filename.startswith(_LIBRARY_DIRS) or filename.startswith(_PERFAUDIT_DIR):
            continue
        try:
            shown = os.path.relpath(filename)
        except ValueError:  # pragma: no cover - another drive on Windows
            shown = filename
        if shown.startswith(".."):
            shown = filename
        return f"{shown}:{frame.lineno}"
    return None

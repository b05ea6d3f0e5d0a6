"""The child process of compare: one per git ref, rooted in that ref's worktree.

The parent starts it with the same interpreter and :data:`BOOTSTRAP`; the
child imports perfaudit from the parent's installation (a worktree of an
older commit may hold an older perfaudit, or none), puts the worktree's
paths first on ``sys.path``, sets Django up, tells the parent the names of
the test databases it is about to create (so that the parent can drop them
if the child dies while migrating, even by SIGKILL), creates its own
throwaway test database (unique name per child, so two children never collide), migrates it
with *this ref's* migrations, runs the scenarios' set-up once, then serves
commands from the parent: one JSON line in on stdin, one JSON line out on the
file descriptor named by ``PERFAUDIT_COMPARE_FD`` (stdout and stderr are left
to the project, and go to a log file).

Commands: ``{"cmd": "setup", "scenario": NAME}`` empties the database
(sequences reset, as audit does, so ids do not depend on what ran before) and
runs that scenario's set-up; ``{"cmd": "round", "payloads": bool}`` runs the
current scenario's requests once each (with ``payloads``, each result also
carries the canonical body, so the parent can name differences and volatile
fields); ``{"cmd": "quit"}`` ends the child,
dropping its database.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Final, TextIO

__all__ = ["BOOTSTRAP", "main"]

#: What ``python -c`` runs in the child.
BOOTSTRAP: Final = """
import os, sys
home = os.environ["PERFAUDIT_COMPARE_HOME"]
sys.path.insert(0, home)
import perfaudit.compare.child as child
sys.path.remove(home)
child.main()
"""


def _emit(channel: TextIO, **message: Any) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def main() -> None:
    channel = os.fdopen(int(os.environ["PERFAUDIT_COMPARE_FD"]), "w", encoding="utf-8")
    paths = json.loads(os.environ.get("PERFAUDIT_COMPARE_PATHS", "[]"))
    sys.path[:0] = [p for p in paths if p not in sys.path]
    label = os.environ.get("PERFAUDIT_COMPARE_LABEL", "child")
    names = json.loads(os.environ.get("PERFAUDIT_COMPARE_SCENARIOS", "[]"))
    try:
        _serve(channel, label, names)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        _emit(
            channel,
            event="error",
            message=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
        sys.exit(1)


def _serve(channel: TextIO, label: str, names: list[str]) -> None:
    import django

    django.setup()
    from django.db import connections, transaction

    from perfaudit.audit.engine import _analyze, _reset
    from perfaudit.audit.middleware_tax import timed_middleware
    from perfaudit.scenarios import load
    from perfaudit.scenarios.environment import scenario_environment
    from perfaudit.scenarios.testdb import throwaway_databases

    # As Django's test runner does: "testserver" allowed, in-memory e-mail, and a
    # fast password hasher for the set-up's users.
    started = time.perf_counter()
    suffix = f"pa_{label}_{os.getpid()}"
    _emit(channel, event="databases", databases=_planned_names(suffix))
    with (
        scenario_environment(),
        throwaway_databases(suffix=suffix) as aliases,
        timed_middleware(),
    ):
        databases = {a: connections[a].settings_dict["NAME"] for a in aliases}
        scenarios = {s.name: s for s in load()}
        if names:
            missing = sorted(set(names) - set(scenarios))
            if missing:
                raise LookupError(
                    f"{'scenario' if len(missing) == 1 else 'scenarios'} {missing} "
                    f"{'is' if len(missing) == 1 else 'are'} not declared at this ref "
                    f"(known: {sorted(scenarios)})"
                )
            scenarios = {name: scenarios[name] for name in names}
        _emit(
            channel,
            event="ready",
            databases=databases,
            migrate_seconds=time.perf_counter() - started,
            scenarios={name: [r.label for r in s.requests] for name, s in scenarios.items()},
        )
        plan: list[tuple[str, Any]] = []
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("cmd") == "quit":
                break
            if command.get("cmd") == "setup":
                item = scenarios[command["scenario"]]
                began = time.perf_counter()
                _reset(aliases)
                with transaction.atomic():
                    context = item.setup() or {}
                _analyze(aliases)
                plan = [(item.name, request.resolve(context)) for request in item.requests]
                _emit(channel, event="setup", seconds=time.perf_counter() - began)
                continue
            results = [
                _run(name, request, aliases, payloads=bool(command.get("payloads")))
                for name, request in plan
            ]
            _emit(channel, event="round", results=results)


def _planned_names(suffix: str) -> dict[str, str]:
    """The test database each alias will get from ``throwaway_databases(suffix=...)``.

    Mirrors and aliases naming the same database get none of their own;
    SQLite in memory needs no clean-up. File names are absolute: the parent
    runs in another folder.
    """
    from django.db import connections

    from perfaudit.scenarios.testdb import _signature, _unique_test_name

    names: dict[str, str] = {}
    seen: set[tuple[Any, ...]] = set()
    for alias in connections:
        connection = connections[alias]
        if (connection.settings_dict.get("TEST") or {}).get("MIRROR"):
            continue
        signature = _signature(connection)
        if signature in seen:
            continue
        seen.add(signature)
        name = _unique_test_name(connection, suffix)
        if name is not None:
            names[alias] = os.path.abspath(name) if connection.vendor == "sqlite" else name
    return names


@contextmanager
def _rolled_back(aliases: list[str]) -> Iterator[None]:
    """Undo whatever a request writes, so every round sees the same data."""
    from django.db import transaction

    with ExitStack() as stack:
        for alias in aliases:
            stack.enter_context(transaction.atomic(using=alias))
        try:
            yield
        finally:
            for alias in aliases:
                transaction.set_rollback(True, using=alias)


def _run(scenario: str, request: Any, aliases: list[str], *, payloads: bool) -> dict[str, Any]:
    from django.test import Client

    import perfaudit
    from perfaudit.audit.engine import _send
    from perfaudit.audit.middleware_tax import active_paths, ledger, report
    from perfaudit.payload import snapshot
    from perfaudit.scenarios.environment import find_user

    with _rolled_back(aliases):
        # Logging in writes (session, last_login): inside the rolled-back block.
        client = Client(raise_request_exception=False)
        if request.user:
            user = find_user(request.user)
            if user is None:
                raise LookupError(f"{request.label}: the set-up created no user {request.user!r}")
            client.force_login(user)
        with perfaudit.record() as recording, ledger(active_paths() or []) as tax:
            started = time.perf_counter()
            response = _send(client, request)
            elapsed = time.perf_counter() - started
        analysis = recording.analysis
        middleware = report(tax, getattr(response, "wsgi_request", None), response)
        shapes: dict[str, int] = {}
        for shape in analysis.shapes:
            if shape.kind != "transaction":  # savepoints: the test client's, not the view's
                shapes[shape.fingerprint] = shapes.get(shape.fingerprint, 0) + shape.count
        findings = analysis.findings
        # The response as it left every middleware: status, content type, wire body.
        # Its canonical body travels to the parent only when asked (warm-up, check).
        result, snap = snapshot(response, with_data=payloads)
    return {
        "scenario": scenario,
        "label": request.label,
        "status": response.status_code,
        "expected": request.accepts(response.status_code),
        "queries": analysis.query_count,
        "shapes": shapes,
        "db_ms": analysis.db_ms,
        "total_ms": elapsed * 1000,
        "hash": result.hash,
        "payload_kind": result.kind,
        "payload": snap.to_wire() if payloads else None,
        "data_hash": result.data,
        # The same dicts as audit's JSON and the JSONL line: Finding.to_dict().
        "findings": [f.to_dict() for f in findings],
        # Beside SQL: cache, outbound HTTP, thread CPU; each middleware's cost.
        "cache_ms": analysis.cache.ms,
        "http_ms": analysis.http.ms,
        "cpu_ms": analysis.cpu_ms,
        "middleware": middleware,
    }

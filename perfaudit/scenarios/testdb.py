"""Throwaway test databases, created and destroyed the way Django's test runner does.

``manage.py perfaudit audit`` must never touch the user's databases: each
alias gets a test database of its own (``create_test_db``, ``keepdb=False``)
under a name unique to this process (``test_<name>_perfaudit_<pid>``; SQLite
uses an in-memory database, private to the process anyway), and the
connection settings point at it until the block ends. On the way out the
databases are dropped and the settings restored, whatever happened: an
exception, Ctrl-C, or SIGTERM (turned into ``KeyboardInterrupt`` while the
block runs). A second Ctrl-C during the clean-up is held back until it is
done, so an impatient user cannot leave a database behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["throwaway_databases"]

logger = logging.getLogger("perfaudit")


@dataclass
class _Created:
    alias: str
    old_name: Any
    old_test_name: Any
    test_name: str


def _unique_test_name(connection: BaseDatabaseWrapper, suffix: str) -> str | None:
    """The TEST NAME to use, or ``None`` to keep Django's (SQLite in memory)."""
    test = connection.settings_dict.get("TEST") or {}
    configured = test.get("NAME")
    if connection.vendor == "sqlite":
        if not configured or _in_memory(connection, str(configured)):
            return None
        root, ext = os.path.splitext(str(configured))
        return f"{root}_{suffix}{ext}"
    base = str(configured) if configured else f"test_{connection.settings_dict['NAME']}"
    return f"{base}_{suffix}"


def _signature(connection: BaseDatabaseWrapper) -> tuple[Any, ...]:
    return tuple(connection.creation.test_db_signature())


@contextlib.contextmanager
def throwaway_databases(*, verbosity: int = 0, suffix: str | None = None) -> Iterator[list[str]]:
    """Point every database alias at a fresh, migrated test database for the block.

    Yields the aliases created. Aliases with a ``TEST["MIRROR"]``, or whose
    settings name the same database as an earlier alias, share that alias's
    test database, as under Django's test runner.
    """
    suffix = suffix or f"perfaudit_{os.getpid()}"
    created: list[_Created] = []
    mirrored: list[tuple[str, dict[str, Any]]] = []
    restore_handler = _sigterm_as_interrupt()
    try:
        by_signature: dict[tuple[Any, ...], str] = {}
        mirrors: dict[str, str] = {}
        for alias in connections:
            connection = connections[alias]
            test = connection.settings_dict.setdefault("TEST", {})
            if test.get("MIRROR"):
                mirrors[alias] = test["MIRROR"]
                continue
            signature = _signature(connection)
            if signature in by_signature:
                mirrors[alias] = by_signature[signature]
                continue
            by_signature[signature] = alias
            test_name = _unique_test_name(connection, suffix)
            entry = _Created(alias, connection.settings_dict["NAME"], test.get("NAME"), "")
            if test_name is not None:
                test["NAME"] = test_name
            entry.test_name = connection.creation._get_test_db_name()  # type: ignore[attr-defined]
            # Recorded before creating: an interrupted creation is cleaned up too.
            created.append(entry)
            connection.creation.create_test_db(
                verbosity=verbosity, autoclobber=True, serialize=False, keepdb=False
            )
        for alias, target in mirrors.items():
            mirrored.append((alias, dict(connections[alias].settings_dict)))
            connections[alias].creation.set_as_test_mirror(connections[target].settings_dict)
        yield [entry.alias for entry in created]
    finally:
        try:
            with _interrupts_deferred():
                for alias, old in mirrored:
                    connections[alias].close()
                    connections[alias].settings_dict.update(old)
                for entry in reversed(created):
                    _destroy(entry, verbosity)
        finally:
            restore_handler()


def _destroy(entry: _Created, verbosity: int) -> None:
    connection = connections[entry.alias]
    try:
        connection.close()
        if connection.settings_dict["NAME"] == entry.test_name:
            connection.creation.destroy_test_db(entry.old_name, verbosity, keepdb=False)
        elif entry.test_name and not _in_memory(connection, entry.test_name):
            # Interrupted between CREATE DATABASE and the switch of NAME: the
            # settings still name the user's database, so drop by test name only.
            with contextlib.suppress(Exception):
                connection.creation._destroy_test_db(entry.test_name, verbosity)  # type: ignore[attr-defined]
    except Exception:
        logger.warning(
            "perfaudit could not drop the test database %r (alias %r); drop it by hand.",
            entry.test_name,
            entry.alias,
            exc_info=True,
        )
    finally:
        connection.settings_dict["NAME"] = entry.old_name
        test = connection.settings_dict.setdefault("TEST", {})
        test["NAME"] = entry.old_test_name


def _in_memory(connection: BaseDatabaseWrapper, name: str) -> bool:
    return connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _sigterm_as_interrupt() -> Callable[[], object]:
    """Make SIGTERM raise ``KeyboardInterrupt`` (so ``finally`` runs); return the undo."""
    if not _in_main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM during the block; re-raise one afterwards."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt(f"signal {received[0]}")

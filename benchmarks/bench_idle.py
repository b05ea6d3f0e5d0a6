"""What perfaudit's execute wrapper costs a query while nothing records.

Run from the repository root::

    .venv/bin/python benchmarks/bench_idle.py [--rounds N]

With ``"perfaudit"`` in ``INSTALLED_APPS`` every connection carries
perfaudit's wrapper (``perfaudit.capture.hook._dispatch``), recording or not.
This times Django's own wrapper plumbing, ``CursorWrapper._execute_with_wrappers``
on a real cursor, around an executor that does nothing (so the database's
time and its drift are out of the figure), with the connection's
``execute_wrappers`` set to:

(n) nothing: the floor, what Django does for every query anyway;
(b) a bare pass-through wrapper, ``return execute(sql, params, many, context)``:
    what being an execute wrapper at all costs (Django builds a
    ``functools.partial`` per wrapper per query, and calls it);
(p) perfaudit's ``_dispatch`` with nothing recording: (b) plus one
    context-variable lookup and an identity test.

and, on their own, (c) ``_VAR.get() is None`` on an unset module-level
context variable (what ``_dispatch`` does), and (k) the loop that times it.
Interleaved rounds of 20,000 calls each, GC off while timing; per-call
nanoseconds, median (min–max) over rounds of the per-round differences.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter_ns
from typing import Any

CALLS = 20_000

# Unset, read as module code reads a context variable (a global, then .get()).
_UNSET: ContextVar[object | None] = ContextVar("unset", default=None)


def run(rounds: int = 30) -> list[tuple[str, list[float]]]:
    """Print the table; return (label, per-round ns) of the three differences."""
    from django.db import connection

    from perfaudit.capture import hook

    hook.install()
    cursor = connection.cursor()
    _check(hook._dispatch in connection.execute_wrappers, "perfaudit's wrapper is not installed")
    _check(hook._ACTIVE.get() is None, "something is recording")
    saved = list(connection.execute_wrappers)

    def noop(sql: str, params: Any, many: bool, context: Any) -> None:
        return None

    def bare(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(sql, params, many, context)

    def through(wrappers: list[Any]) -> Callable[[], int]:
        execute = cursor._execute_with_wrappers

        def timed() -> int:
            connection.execute_wrappers[:] = wrappers
            t0 = perf_counter_ns()
            for _ in range(CALLS):
                execute("SELECT 1", None, False, noop)
            return perf_counter_ns() - t0

        return timed

    def lookup() -> int:
        t0 = perf_counter_ns()
        for _ in range(CALLS):
            if _UNSET.get() is None:
                pass
        return perf_counter_ns() - t0

    def loop() -> int:
        t0 = perf_counter_ns()
        for _ in range(CALLS):
            if None is None:
                pass
        return perf_counter_ns() - t0

    variants: dict[str, Callable[[], int]] = {
        "n": through([]),
        "b": through([bare]),
        "p": through([hook._dispatch]),
        "c": lookup,
        "k": loop,
    }
    keys = list(variants)
    per_call: dict[str, list[float]] = {key: [] for key in keys}
    try:
        for round_no in range(rounds + 1):
            gc.collect()
            gc.disable()
            try:
                shift = round_no % len(keys)
                times = {key: variants[key]() / CALLS for key in keys[shift:] + keys[:shift]}
            finally:
                gc.enable()
            if round_no:
                for key in keys:
                    per_call[key].append(times[key])
    finally:
        connection.execute_wrappers[:] = saved
        cursor.close()

    def diff(a: str, b: str) -> list[float]:
        return [x - y for x, y in zip(per_call[a], per_call[b], strict=True)]

    results = [
        ("(p) − (n): perfaudit idle vs no wrapper", diff("p", "n")),
        ("(p) − (b): perfaudit idle vs a bare wrapper", diff("p", "b")),
        ("(b) − (n): being a wrapper at all (Django)", diff("b", "n")),
        ("(c) − (k): one ContextVar.get() + is None", diff("c", "k")),
    ]
    print(
        f"perfaudit's execute wrapper while nothing records: {rounds} rounds x {CALLS:,} calls, "
        "interleaved, GC off"
    )
    print(f"  {'(n) _execute_with_wrappers, no wrapper':<48}{_fmt(per_call['n']):>28} ns/call")
    for label, values in results:
        print(f"  {label:<48}{_fmt(values):>28} ns/query")
    return results


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds (default 30)")
    args = parser.parse_args()
    from benchapp.bootstrap import configure

    with tempfile.TemporaryDirectory(prefix="perfaudit-bench-") as directory:
        configure(directory)
        run(args.rounds)


if __name__ == "__main__":
    main()

"""``manage.py perfaudit report``: the hotspot inventory from the middleware's JSONL file.

::

    manage.py perfaudit report [--from FILE.jsonl|GLOB ...] [--format text|markdown|json]
                               [--top N] [--explain N [--analyze]] [--database ALIAS]
                               [--pg-stat-statements | --capacity [--workers N]
                                                                  [--target-rps R]]

Query shapes ranked by the DB time they cost across all recorded requests
(count, mean, the views and call sites issuing them, the findings naming
them), then a per-view table. Text for people, markdown for a PR or an issue,
json for scripts: the three are rendered from the same inventory
(:mod:`perfaudit.report.inventory`, rendered by :mod:`perfaudit.report.formats`).
Several files (one per process or pod, and rotated backups) are merged
(:mod:`perfaudit.report.sources`). ``--pg-stat-statements`` ranks the
database's own statement statistics instead, joined to the files
(:mod:`perfaudit.report.pg_stat`); ``--capacity`` prints the throughput model
(:mod:`perfaudit.report.capacity`). Failures exit non-zero with one line
saying what to do (exit code 2).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from perfaudit.conf import app_settings
from perfaudit.report import capacity as capacity_model
from perfaudit.report import fleet_formats
from perfaudit.report.explain import ExplainUnavailable, check_database, explain_shapes
from perfaudit.report.formats import render_json, render_markdown, render_text
from perfaudit.report.inventory import Inventory, build_inventory
from perfaudit.report.pg_stat import (
    PgStatUnavailable,
    build_pg_report,
    explain_ranked,
    read_statements,
)
from perfaudit.report.sources import describe, expand_sources, read_many
from perfaudit.web.jsonl import JsonlError

__all__ = ["HELP", "add_arguments", "handle"]

HELP: Final = "Rank query shapes and views by DB time from the middleware's JSONL file."

# Exit code for unusable input or options, as argparse uses for usage errors.
EXIT_USAGE: Final = 2


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--from",
        dest="from_paths",
        metavar="FILE.jsonl",
        nargs="+",
        action="extend",
        help="JSONL files or shell globs ('pods/*/perfaudit.jsonl*'), merged; default: "
        "PERFAUDIT['JSONL_PATH'] and its rotated backup <JSONL_PATH>.1.",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text for the terminal, markdown for a document, json for machines (default: text)",
    )
    parser.add_argument(
        "--top",
        type=_count(0),
        default=20,
        metavar="N",
        help="Query shapes to list (default 20; 0 lists all).",
    )
    parser.add_argument(
        "--explain",
        type=_count(0),
        default=0,
        metavar="N",
        help="PostgreSQL only: EXPLAIN the top N shapes (SELECTs only, in a read-only "
        "transaction that is rolled back).",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="With --explain: EXPLAIN (ANALYZE, BUFFERS), which executes the SELECTs.",
    )
    parser.add_argument(
        "--database",
        default="default",
        metavar="ALIAS",
        help="Database alias --explain and --pg-stat-statements use (default: 'default').",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--pg-stat-statements",
        action="store_true",
        help="PostgreSQL: rank the database's pg_stat_statements by execution time, joined "
        "to the files' views, call sites and findings.",
    )
    mode.add_argument(
        "--capacity",
        action="store_true",
        help="Per view: requests per second per worker and per instance, DB time and "
        "in-flight requests at --target-rps, from the recorded wall, CPU and DB time.",
    )
    parser.add_argument(
        "--workers",
        type=_count(1),
        default=None,
        metavar="N",
        help="With --capacity: workers per instance (default 1).",
    )
    parser.add_argument(
        "--target-rps",
        type=_rate,
        default=None,
        metavar="R",
        help="With --capacity: the instance's total request rate, split over the views "
        "by their share of the recorded requests.",
    )


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def handle(command: BaseCommand, **options: Any) -> None:
    patterns = _sources(options.get("from_paths"))
    explain, analyze = int(options.get("explain") or 0), bool(options.get("analyze"))
    using = str(options.get("database") or "default")
    pg_stat, capacity = bool(options.get("pg_stat_statements")), bool(options.get("capacity"))
    workers, target = options.get("workers"), options.get("target_rps")
    if analyze and not explain:
        raise CommandError("--analyze only applies with --explain N.", returncode=EXIT_USAGE)
    if (workers is not None or target is not None) and not capacity:
        raise CommandError(
            "--workers and --target-rps only apply with --capacity.", returncode=EXIT_USAGE
        )
    if capacity and explain:
        raise CommandError("--explain does not apply with --capacity.", returncode=EXIT_USAGE)
    if explain and not pg_stat:
        try:
            check_database(using)
        except ExplainUnavailable as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
    rows: tuple[str, list[tuple[str, int, float, int]]] | None = None
    if pg_stat:  # before the files: a database without the extension fails fast
        try:
            rows = read_statements(using)
        except PgStatUnavailable as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        except DatabaseError as exc:
            raise _database_error("--pg-stat-statements", using, exc) from None
    model = capacity_model.CapacityModel(workers or 1, target) if capacity else None
    try:
        paths = expand_sources(patterns)
        lines = read_many(paths)
        if model is not None:
            lines = capacity_model.tap(lines, model)  # type: ignore[assignment]
        inventory = build_inventory(lines, describe(paths))
    except JsonlError as exc:
        raise CommandError(f"Cannot report on {exc}", returncode=EXIT_USAGE) from None

    fmt = options.get("format") or "text"
    if model is not None:
        _print_capacity(command, capacity_model.finish(model), inventory.source, fmt)
        return
    top = int(options.get("top", 20))
    if rows is not None:
        _print_pg_stat(
            command,
            build_pg_report(using, rows[0], rows[1], inventory),
            top,
            explain,
            analyze,
            fmt,
        )
        return
    shown = inventory.shapes[: max(top, explain)] if top else inventory.shapes
    try:
        plans = explain_shapes(shown[:explain], using=using, analyze=analyze) if explain else []
    except DatabaseError as exc:  # e.g. the server is unreachable: one line, not a traceback
        raise _database_error("--explain", using, exc) from None
    _print_inventory(command, inventory, shown, plans, fmt)


def _sources(given: list[str] | None) -> list[str]:
    """The ``--from`` patterns, or ``JSONL_PATH`` (and its backup, when there is one)."""
    if given:
        return list(given)
    path = app_settings.JSONL_PATH
    if not path:
        raise CommandError(
            "No JSONL file to report on: pass --from FILE.jsonl, or set "
            "PERFAUDIT['JSONL_PATH'] so the middleware writes one.",
            returncode=EXIT_USAGE,
        )
    backup = f"{path}.1"
    return [path, backup] if os.path.isfile(backup) else [path]


def _database_error(option: str, using: str, exc: DatabaseError) -> CommandError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CommandError(
        f"{option} could not use database {using!r}: {first}", returncode=EXIT_USAGE
    )


def _print_inventory(
    command: BaseCommand, inventory: Inventory, shown: Any, plans: Any, fmt: str
) -> None:
    if fmt == "json":
        command.stdout.write(render_json(inventory, shown, plans))
    elif fmt == "markdown":
        command.stdout.write(render_markdown(inventory, shown, plans))
    else:
        render_text(command, inventory, shown, plans)


def _print_pg_stat(
    command: BaseCommand, report: Any, top: int, explain: int, analyze: bool, fmt: str
) -> None:
    shown = report.shapes[: max(top, explain)] if top else report.shapes
    try:
        plans = (
            explain_ranked(shown[:explain], using=report.alias, analyze=analyze) if explain else []
        )
    except DatabaseError as exc:
        raise _database_error("--explain", report.alias, exc) from None
    if fmt == "json":
        command.stdout.write(fleet_formats.pg_json(report, shown, plans))
    elif fmt == "markdown":
        command.stdout.write(fleet_formats.pg_markdown(report, shown, plans))
    else:
        fleet_formats.pg_text(command, report, shown, plans)


def _print_capacity(
    command: BaseCommand, model: capacity_model.CapacityModel, source: str | None, fmt: str
) -> None:
    if fmt == "json":
        command.stdout.write(fleet_formats.capacity_json(model))
    elif fmt == "markdown":
        command.stdout.write(fleet_formats.capacity_markdown(model, source))
    else:
        fleet_formats.capacity_text(command, model, source)

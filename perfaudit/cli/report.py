"""``manage.py perfaudit report``: the hotspot inventory from the middleware's JSONL file.

::

    manage.py perfaudit report [--from FILE.jsonl] [--format text|markdown|json]
                               [--top N] [--explain N [--analyze]] [--database ALIAS]

Query shapes ranked by the DB time they cost across all recorded requests
(count, mean, the views and call sites issuing them, the findings naming
them), then a per-view table. Text for people, markdown for a PR or an issue,
json for scripts: the three are rendered from the same inventory
(:mod:`perfaudit.report.inventory`, rendered by :mod:`perfaudit.report.formats`).
Failures exit non-zero with one line saying what to do (exit code 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from perfaudit.conf import app_settings
from perfaudit.report.explain import ExplainUnavailable, check_database, explain_shapes
from perfaudit.report.formats import render_json, render_markdown, render_text
from perfaudit.report.inventory import load_inventory
from perfaudit.web.jsonl import JsonlError

__all__ = ["HELP", "add_arguments", "handle"]

HELP: Final = "Rank query shapes and views by DB time from the middleware's JSONL file."

# Exit code for unusable input or options, as argparse uses for usage errors.
EXIT_USAGE: Final = 2


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--from",
        dest="from_path",
        metavar="FILE.jsonl",
        help="JSONL file written by the middleware (default: PERFAUDIT['JSONL_PATH']).",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="Output format."
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
        help="Database alias --explain runs on (default: 'default').",
    )


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
    path = options.get("from_path") or app_settings.JSONL_PATH
    if not path:
        raise CommandError(
            "No JSONL file to report on: pass --from FILE.jsonl, or set "
            "PERFAUDIT['JSONL_PATH'] so the middleware writes one.",
            returncode=EXIT_USAGE,
        )
    explain, analyze = int(options.get("explain") or 0), bool(options.get("analyze"))
    using = str(options.get("database") or "default")
    if analyze and not explain:
        raise CommandError("--analyze only applies with --explain N.", returncode=EXIT_USAGE)
    if explain:
        try:
            check_database(using)
        except ExplainUnavailable as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
    try:
        inventory = load_inventory(path)
    except JsonlError as exc:
        raise CommandError(f"Cannot report on {exc}", returncode=EXIT_USAGE) from None

    top = int(options.get("top", 20))
    shown = inventory.shapes[: max(top, explain)] if top else inventory.shapes
    try:
        plans = explain_shapes(shown[:explain], using=using, analyze=analyze) if explain else []
    except DatabaseError as exc:  # e.g. the server is unreachable: one line, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(
            f"--explain could not use database {using!r}: {first}", returncode=EXIT_USAGE
        ) from None

    fmt = options.get("format") or "text"
    if fmt == "json":
        command.stdout.write(render_json(inventory, shown, plans))
    elif fmt == "markdown":
        command.stdout.write(render_markdown(inventory, shown, plans))
    else:
        render_text(command, inventory, shown, plans)

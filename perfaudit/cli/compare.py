"""``manage.py perfaudit compare BASE HEAD``: the proof a performance PR needs.

Checks both refs out as detached worktrees, runs the same scenarios in one
child process per ref (each with its own throwaway test database), interleaves
timed rounds, and reports per endpoint: status, queries, DB and total time
with a rank-test verdict, payload identity, and findings added or removed.

Exit status: 0 no regression, 1 a regression under ``--fail-on``, 2 a usage
or set-up error (bad ref, not a repository, a child that crashed). Worktrees,
child processes and test databases are removed in every case, Ctrl-C
included, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfaudit.cli.progress import Progress, raw_stream
from perfaudit.compare.git import CompareError
from perfaudit.compare.plot import FORMATS as PLOT_FORMATS
from perfaudit.compare.plot import PlotError, plot
from perfaudit.compare.report import (
    CHECKS,
    DEFAULT_FAIL_ON,
    as_json,
    as_markdown,
    as_text,
    regressions,
)
from perfaudit.compare.session import compare
from perfaudit.text import plural

HELP = "Compare two git refs: queries, time and payload identity per scenario request."

#: No system checks in the parent: they import the working tree's code (URLs,
#: scenario modules), which compare never runs (each child runs its ref's) and
#: which may be half-edited. Each child's Django set-up imports its own ref.
SKIP_CHECKS = True


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("base", help="the ref to compare against (e.g. main)")
    parser.add_argument("head", help="the ref with the change (e.g. your branch)")
    parser.add_argument(
        "--rounds", type=_positive, default=10, help="timed rounds per ref (default: 10)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="only this scenario (repeatable; default: every scenario both refs declare)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        dest="output_format",
        help="text for the terminal, markdown to paste into a PR, json for machines "
        "(default: text)",
    )
    parser.add_argument(
        "--fail-on",
        default=",".join(DEFAULT_FAIL_ON),
        help=f"comma-separated checks that make the exit status 1: {', '.join(CHECKS)} "
        f"(default: {','.join(DEFAULT_FAIL_ON)}; time is noisy on shared runners)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep worktrees and child logs for debugging"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.svg|png",
        default=None,
        help="also draw each endpoint's request times, base against head, to this file "
        "(needs matplotlib: pip install 'perfaudit[plot]'); the markdown output embeds it",
    )

    parser.add_argument(
        "--show-values",
        action="store_true",
        help="JSON output only: write differing payload values whole (they may hold tokens "
        "or personal data; by default they are shortened, as in text and markdown)",
    )


def _check_plot(path: Path) -> None:
    """Fail before the rounds, not after them, when the plot cannot be drawn."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise CommandError(f"--plot {path}: use a .svg or .png file name.", returncode=2)
    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError(
            "--plot needs matplotlib: pip install 'perfaudit[plot]' (or drop --plot).",
            returncode=2,
        )


def handle(command: BaseCommand, **options: Any) -> None:
    fail_on = [item.strip() for item in str(options["fail_on"]).split(",") if item.strip()]
    unknown = sorted(set(fail_on) - set(CHECKS))
    if unknown:
        raise CommandError(
            f"--fail-on: unknown {'check' if len(unknown) == 1 else 'checks'} {unknown}; "
            f"choose from {', '.join(CHECKS)}.",
            returncode=2,
        )

    plot_path = Path(options["plot"]) if options.get("plot") else None
    if plot_path is not None:
        _check_plot(plot_path)
    progress = Progress(raw_stream(command.stderr), verbosity=int(options.get("verbosity", 1)))
    try:
        result = compare(
            options["base"],
            options["head"],
            cwd=Path.cwd(),
            rounds=options["rounds"],
            scenarios=options["scenario"],
            keep=options["keep"],
            progress=progress,
            notice=progress.notice,
        )
    except CompareError as exc:
        raise CommandError(str(exc), returncode=2) from exc
    except KeyboardInterrupt:
        raise CommandError(
            "Interrupted: worktrees, child processes and test databases were removed.",
            returncode=130,
        ) from None
    finally:
        progress.close()

    if plot_path is not None:
        try:
            plot(result, plot_path)
        except PlotError as exc:
            raise CommandError(str(exc), returncode=2) from exc
    fmt = options["output_format"]
    if fmt == "json":
        command.stdout.write(as_json(result, fail_on, show_values=options["show_values"]))
    elif fmt == "markdown":
        command.stdout.write(as_markdown(result, fail_on, plot=plot_path))
    else:
        styles = {
            "bad": command.style.ERROR,
            "good": command.style.SUCCESS,
            "head": command.style.MIGRATE_HEADING,
        }
        command.stdout.write(as_text(result, fail_on, lambda kind, text: styles[kind](text)))

    failing = [(e.name, regressions(e, fail_on)) for e in result.endpoints]
    failing = [(name, problems) for name, problems in failing if problems]
    if failing:
        first_name, first_problems = failing[0]
        raise CommandError(
            f"{plural(len(failing), 'endpoint')} regressed under --fail-on {','.join(fail_on)}; "
            f"first: {first_name}: {'; '.join(first_problems)}",
            returncode=1,
        )

"""``manage.py perfaudit audit``: run the scenarios in a throwaway test database.

Exit codes: 0 all scenarios ran as declared; 1 a scenario failed (its set-up
raised, a request raised or returned a status it did not expect, or its
queries or payload changed between ``--repeat`` runs); 2 a usage or
configuration error (no scenarios, an unknown ``--scenario``, a scenario
module that cannot be imported); 3 ``--fail-on`` found a finding of a gated
kind; 130 interrupted. The report goes to stdout, the one-line reason for a
non-zero exit to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfaudit.audit import engine as _audit
from perfaudit.audit.formats import FORMATS, render
from perfaudit.cli.progress import Progress, raw_stream
from perfaudit.detect import DETECTORS
from perfaudit.scenarios import Scenario, ScenarioError, load
from perfaudit.scenarios.environment import scenario_environment
from perfaudit.scenarios.testdb import throwaway_databases
from perfaudit.text import plural

__all__ = ["HELP", "add_arguments", "handle"]

HELP: Final = (
    "Run the PERFAUDIT['SCENARIOS'] in a throwaway test database and report each request."
)

#: What --fail-on accepts: the detector kinds, and "budget" for PERFAUDIT["BUDGETS"].
GATES: Final = (*DETECTORS, "budget")

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_GATED: Final = 3
EXIT_INTERRUPTED: Final = 130


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value!r}")
    return number


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        metavar="NAME",
        help="Run only this scenario (repeatable). Default: all of them.",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="Report format (default: text)."
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="N",
        help="Run each GET/HEAD/OPTIONS request N times and report median timings; "
        "their query counts and payloads must not change (default: 1).",
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="KINDS",
        help=f"Exit with status 3 when a finding of these kinds is found, comma-separated "
        f"(repeatable): {', '.join(GATES)}, or all.",
    )
    parser.add_argument(
        "--list", action="store_true", help="List the scenarios and their requests, run nothing."
    )


def handle(command: BaseCommand, **options: Any) -> None:
    gates = _gates(options.get("fail_on") or [])
    selected = _select(options.get("scenarios"))
    if options.get("list"):
        _list(command, selected)
        return
    verbosity = int(options.get("verbosity", 1))
    progress = Progress(raw_stream(command.stderr), verbosity=verbosity)
    try:
        with (
            scenario_environment(),
            throwaway_databases(verbosity=max(verbosity - 1, 0)) as aliases,
            _quiet_request_log(verbosity),
        ):
            result = _audit.run(
                selected, repeat=options.get("repeat", 1), aliases=aliases, progress=progress
            )
    except KeyboardInterrupt:
        raise CommandError(
            "Interrupted; the throwaway test databases were removed.",
            returncode=EXIT_INTERRUPTED,
        ) from None
    finally:
        progress.close()

    command.stdout.write(render(result, options.get("format", "text"), command.style))
    failures = result.failures()
    if failures:
        more = (
            f" (and {plural(len(failures) - 1, 'more failure')}, see the report)"
            if len(failures) > 1
            else ""
        )
        raise CommandError(failures[0] + more, returncode=EXIT_FAILED)
    gated = result.gated(gates)
    if gated:
        more = f" (and {len(gated) - 1} more)" if len(gated) > 1 else ""
        raise CommandError(
            f"--fail-on {','.join(gates)}: {gated[0]}{more}; fix it, or take the kind out "
            "of --fail-on.",
            returncode=EXIT_GATED,
        )


def _gates(values: list[str]) -> list[str]:
    kinds: list[str] = []
    for value in values:
        for kind in (part.strip() for part in value.split(",")):
            if not kind:
                continue
            if kind == "all":
                kinds.extend(GATES)
            elif kind in GATES:
                kinds.append(kind)
            else:
                raise CommandError(
                    f"--fail-on: unknown kind {kind!r}; use {', '.join(GATES)} or all.",
                    returncode=EXIT_USAGE,
                )
    return list(dict.fromkeys(kinds))


def _select(names: list[str] | None) -> list[Scenario]:
    try:
        scenarios = load()
    except ScenarioError as exc:
        raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
    if not scenarios:
        raise CommandError(
            "No scenarios to run: PERFAUDIT['SCENARIOS'] lists no module that declares "
            "one. Add the dotted path of a module with @perfaudit.scenario(...) "
            "set-up functions (see docs/audit.md).",
            returncode=EXIT_USAGE,
        )
    if not names:
        return scenarios
    by_name = {item.name: item for item in scenarios}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise CommandError(
            f"--scenario: no scenario is called {unknown[0]!r}; known scenarios: "
            f"{', '.join(by_name)}.",
            returncode=EXIT_USAGE,
        )
    return [by_name[name] for name in dict.fromkeys(names)]


def _list(command: BaseCommand, scenarios: list[Scenario]) -> None:
    for item in scenarios:
        command.stdout.write(command.style.MIGRATE_HEADING(item.name) + f"  ({item.origin})")
        if item.description:
            command.stdout.write(f"  {item.description.splitlines()[0]}")
        for request in item.requests:
            command.stdout.write(f"  {request.label}  [expects {request.expected}]")


@contextlib.contextmanager
def _quiet_request_log(verbosity: int) -> Iterator[None]:
    """Silence "Not Found"/"Internal Server Error" logs: the report states each failure."""
    logger = logging.getLogger("django.request")
    previous = logger.level
    if verbosity < 2:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)

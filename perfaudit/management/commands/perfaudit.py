"""``manage.py perfaudit audit | compare | report`` — dispatches to perfaudit.cli."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perfaudit.cli import SUBCOMMANDS


def _modules() -> dict[str, ModuleType]:
    found = {}
    for name, path in SUBCOMMANDS.items():
        try:
            found[name] = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name != path:
                raise  # a real import error inside the subcommand
    return found


#: One example per subcommand, shown at the end of its --help.
EXAMPLES: Final = {
    "audit": "example:\n  manage.py perfaudit audit --scenario event-list --repeat 5 "
    "--format markdown",
    "compare": "example:\n  manage.py perfaudit compare main HEAD --rounds 10 --format markdown",
    "report": "example:\n  manage.py perfaudit report --from perfaudit.jsonl --top 10 --explain 3",
}


def _common_options(parser: CommandParser) -> None:
    """Django's own options, accepted after the subcommand too.

    ``manage.py perfaudit audit -v 2`` reads as naturally as
    ``manage.py perfaudit -v 2 audit``. Defaults are suppressed so that an
    option given before the subcommand is not reset by the subparser.
    (``--settings`` and ``--pythonpath`` are applied by Django from anywhere
    on the command line; they are accepted here so parsing does not reject
    them.)
    """
    hidden = argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbosity",
        type=int,
        choices=[0, 1, 2, 3],
        default=hidden,
        help="Verbosity level; 0=minimal output, 1=normal output, 2=verbose output, "
        "3=very verbose output",
    )
    parser.add_argument("--settings", default=hidden, help="Python path to a settings module.")
    parser.add_argument("--pythonpath", default=hidden, help="A directory to add to sys.path.")
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=hidden,
        help="Raise on CommandError exceptions.",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        default=hidden,
        help="Don't colorize the command output.",
    )
    parser.add_argument(
        "--force-color",
        action="store_true",
        default=hidden,
        help="Force colorization of the command output.",
    )
    parser.add_argument(
        "--skip-checks", action="store_true", default=hidden, help="Skip system checks."
    )


class Command(BaseCommand):
    help = "perfaudit: audit views, compare two git refs, report hotspots."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="{" + ",".join(_modules()) + "}", required=True
        )
        for name, module in _modules().items():
            sub = subparsers.add_parser(
                name,
                help=module.HELP,
                description=module.HELP,
                epilog=EXAMPLES.get(name),
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            module.add_arguments(sub)
            _common_options(sub)

    def execute(self, *args: Any, **options: Any) -> Any:
        # A subcommand may opt out of the system checks (compare: they import the
        # working tree's code, which compare never runs and which may not import).
        module = _modules().get(str(options.get("subcommand")))
        if module is not None and getattr(module, "SKIP_CHECKS", False):
            options["skip_checks"] = True
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options.pop("subcommand", None)
        modules = _modules()
        if name not in modules:
            raise CommandError(f"Unknown subcommand {name!r}; use one of {sorted(modules)}.")
        modules[name].handle(self, **options)

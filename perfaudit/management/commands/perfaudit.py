"""``manage.py perfaudit audit | compare | report`` — dispatches to perfaudit.cli."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

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


class Command(BaseCommand):
    help = "perfaudit: audit views, compare two git refs, report hotspots."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="{" + ",".join(_modules()) + "}", required=True
        )
        for name, module in _modules().items():
            sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options.pop("subcommand", None)
        modules = _modules()
        if name not in modules:
            raise CommandError(f"Unknown subcommand {name!r}; use one of {sorted(modules)}.")
        modules[name].handle(self, **options)

"""Subcommands of ``manage.py perfaudit``.

Each subcommand lives in its own module of this package (``report.py``,
``audit.py``, ``compare.py``) and exposes::

    HELP: str                                     # one line for --help
    def add_arguments(parser: CommandParser) -> None: ...
    def handle(command: BaseCommand, **options: Any) -> None: ...

``handle`` writes through ``command.stdout``/``command.style`` and signals
failure with ``CommandError(message, returncode=N)``, so CI can gate on the
exit code. The dispatcher (``perfaudit/management/commands/perfaudit.py``)
imports the modules listed in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SUBCOMMANDS"]

#: Subcommand name -> module path, in the order --help lists them.
SUBCOMMANDS: Final = {
    "audit": "perfaudit.cli.audit",
    "compare": "perfaudit.cli.compare",
    "report": "perfaudit.cli.report",
}

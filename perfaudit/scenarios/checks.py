"""System checks for ``PERFAUDIT["SCENARIOS"]``: registered when scenarios.py is imported.

* ``perfaudit.E010`` - a listed module cannot be imported.
* ``perfaudit.E011`` - a listed module declares a scenario wrongly (duplicate
  name, unknown HTTP method, relative path, ...).
* ``perfaudit.W010`` - a listed module declares no scenario.

The check imports the listed modules, as Django's URL checks import the
URLconf: a scenario module should only declare scenarios at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register

from perfaudit.conf import app_settings

__all__ = ["check_scenarios"]


@register("perfaudit")
def check_scenarios(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Import every module of ``PERFAUDIT["SCENARIOS"]`` and report what fails."""
    from perfaudit.scenarios.registry import ScenarioError, declared_in, import_scenario_module

    messages: list[CheckMessage] = []
    for path in app_settings.SCENARIOS:
        try:
            import_scenario_module(path)
        except ScenarioError as exc:
            cause = exc.__cause__
            if isinstance(cause, ScenarioError):
                messages.append(
                    Error(
                        str(exc),
                        hint="Fix the @scenario declaration; see docs/audit.md.",
                        obj=path,
                        id="perfaudit.E011",
                    )
                )
            else:
                messages.append(
                    Error(
                        str(exc),
                        hint="Each entry of PERFAUDIT['SCENARIOS'] is an importable dotted "
                        "module path, e.g. 'myproject.perf.scenarios'.",
                        obj=path,
                        id="perfaudit.E010",
                    )
                )
            continue
        if not declared_in([path]):
            messages.append(
                Warning(
                    f"PERFAUDIT['SCENARIOS'] lists {path!r}, which declares no scenario.",
                    hint="Decorate a set-up function with @perfaudit.scenario(...) in that "
                    "module, or remove it from the list.",
                    obj=path,
                    id="perfaudit.W010",
                )
            )
    return messages

"""The scenario registry: ``@scenario``, :class:`Request`, :func:`load`."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from perfaudit.conf import app_settings
from perfaudit.scenarios.request import METHODS, SAFE_METHODS, Request, ScenarioError

__all__ = [
    "METHODS",
    "SAFE_METHODS",
    "Registry",
    "Request",
    "Scenario",
    "ScenarioError",
    "load",
    "registry",
    "scenario",
]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")

SetUp = Callable[[], "Mapping[str, Any] | None"]
F = TypeVar("F", bound=Callable[[], Any])


@dataclass(frozen=True)
class Scenario:
    """A registered scenario: its set-up function and its requests."""

    name: str
    setup: SetUp
    requests: tuple[Request, ...]
    description: str = ""
    module: str = ""

    @property
    def origin(self) -> str:
        """``module.function`` of the set-up function, for messages."""
        qualname = getattr(self.setup, "__qualname__", repr(self.setup))
        return f"{self.module}.{qualname}" if self.module else qualname


class Registry:
    """Scenarios by name. :data:`registry` is the one ``@scenario`` fills."""

    def __init__(self) -> None:
        self._scenarios: dict[str, Scenario] = {}

    def add(self, item: Scenario) -> Scenario:
        """Register ``item``; a second scenario of the same name is an error.

        Re-registering from the same function (a module imported again, e.g.
        after a failed import) replaces the earlier entry.
        """
        existing = self._scenarios.get(item.name)
        if existing is not None and existing.origin != item.origin:
            raise ScenarioError(
                f"Scenario {item.name!r} is declared twice: by {existing.origin} and by "
                f"{item.origin}. Scenario names must be unique; rename one of them."
            )
        self._scenarios[item.name] = item
        return item

    def scenario(
        self,
        name: str,
        *,
        requests: Sequence[Request | str],
        description: str | None = None,
    ) -> Callable[[F], F]:
        """Decorate a set-up function to register it as scenario ``name``.

        ``requests`` are :class:`Request` objects; a plain string is a ``GET``
        of that path. ``description`` defaults to the function's docstring.
        The function is returned unchanged.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ScenarioError(
                f"Scenario name {name!r} is not valid: use letters, digits and "
                "'-', '_', '.', ':' (it is typed on the command line: --scenario NAME)."
            )
        built = _requests(name, requests)

        def register(setup: F) -> F:
            if not callable(setup):
                raise ScenarioError(f"@scenario({name!r}) must decorate a function.")
            _check_signature(name, setup)
            doc = description if description is not None else inspect.getdoc(setup) or ""
            module = getattr(setup, "__module__", "") or ""
            self.add(Scenario(name, setup, built, doc.strip(), module))
            return setup

        return register

    def get(self, name: str) -> Scenario:
        """The scenario called ``name``; :class:`ScenarioError` if there is none."""
        try:
            return self._scenarios[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._scenarios), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self._scenarios) or "none"
            raise ScenarioError(
                f"No scenario is called {name!r}.{hint} Known scenarios: {known}."
            ) from None

    def all(self) -> list[Scenario]:
        """Every registered scenario, in declaration order."""
        return list(self._scenarios.values())

    def remove(self, name: str) -> None:
        """Forget scenario ``name`` (tests use it to clean up)."""
        self._scenarios.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._scenarios

    def __iter__(self) -> Iterator[Scenario]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._scenarios)


def _requests(name: str, requests: Sequence[Request | str]) -> tuple[Request, ...]:
    if isinstance(requests, str | Request) or not isinstance(requests, Sequence):
        raise ScenarioError(
            f"Scenario {name!r}: requests= must be a list of Request objects or paths."
        )
    built: list[Request] = []
    for item in requests:
        if isinstance(item, str):
            built.append(Request("GET", item))
        elif isinstance(item, Request):
            built.append(item)
        else:
            raise ScenarioError(
                f"Scenario {name!r}: {item!r} is not a Request; use "
                "Request('GET', '/path/') or a path string."
            )
    if not built:
        raise ScenarioError(f"Scenario {name!r} has no requests; give at least one.")
    return tuple(built)


def _check_signature(name: str, setup: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(setup)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise ScenarioError(
            f"Scenario {name!r}: the set-up function takes no arguments, but "
            f"{setup.__qualname__} requires {', '.join(required)}."
        )


registry: Final = Registry()
"""The registry ``@scenario`` and :func:`load` use."""


def scenario(
    name: str,
    *,
    requests: Sequence[Request | str],
    description: str | None = None,
) -> Callable[[F], F]:
    """Register the decorated set-up function as scenario ``name``.

    See :meth:`Registry.scenario`; this is the default :data:`registry`'s.
    """
    return registry.scenario(name, requests=requests, description=description)


def import_scenario_module(path: str) -> None:
    """Import one module of ``PERFAUDIT["SCENARIOS"]``, explaining a failure.

    Raises :class:`ScenarioError`: the module's own declaration errors are
    prefixed with its path; any other import error says what to fix.
    """
    try:
        importlib.import_module(path)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise ScenarioError(
            f"PERFAUDIT['SCENARIOS'] lists {path!r}, which cannot be imported "
            f"({type(exc).__name__}: {exc}); fix the dotted path or the error in that module."
        ) from exc


def declared_in(modules: Iterable[str], *, source: Registry | None = None) -> list[Scenario]:
    """The registered scenarios whose set-up function is in one of ``modules`` (or below)."""
    prefixes = tuple(modules)
    found = []
    for item in (source if source is not None else registry).all():
        if any(item.module == m or item.module.startswith(m + ".") for m in prefixes):
            found.append(item)
    return found


def load(
    modules: Iterable[str] | None = None, *, source: Registry | None = None
) -> list[Scenario]:
    """Import the scenario modules and return their scenarios, in declaration order.

    ``modules`` defaults to ``PERFAUDIT["SCENARIOS"]``. Raises
    :class:`ScenarioError` when a module cannot be imported or declares a
    scenario wrongly.
    """
    paths = list(app_settings.SCENARIOS if modules is None else modules)
    for path in paths:
        import_scenario_module(path)
    return declared_in(paths, source=source)

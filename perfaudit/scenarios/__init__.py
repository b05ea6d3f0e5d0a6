"""Scenarios: what ``manage.py perfaudit audit`` (and ``compare``) requests.

A scenario is a name, a set-up function that creates the data it needs (run
once, in a fresh throwaway test database) and the requests to make::

    from perfaudit.scenarios import Request, scenario

    @scenario(
        "event-list",
        requests=[Request("GET", "/api/events/", query={"tag": "jazz"})],
    )
    def event_list() -> None:
        EventFactory.create_batch(30)

Scenarios are declared in the modules listed in ``PERFAUDIT["SCENARIOS"]``;
:func:`load` imports them. The set-up function may return a mapping whose
values fill ``{name}`` placeholders in the paths and query values of its
requests (``Request("GET", "/api/events/{slug}/")``), for ids only known once
the data exists. Declaration mistakes (a duplicate name, an unknown HTTP
method, a relative path) raise :class:`ScenarioError` at import time, and
``manage.py check`` reports them (``perfaudit.E010``-``E011``, ``W010``).
"""

from __future__ import annotations

# Registers the scenario system checks (perfaudit.E010, E011, W010).
from perfaudit.scenarios import checks as _checks  # noqa: F401
from perfaudit.scenarios.registry import *  # noqa: F403  (the public names, listed there)
from perfaudit.scenarios.registry import __all__ as __all__

"""One request of a scenario: :class:`Request`, and the errors of a declaration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlencode

__all__ = ["METHODS", "SAFE_METHODS", "Request", "ScenarioError"]

#: HTTP methods a request may use.
METHODS: Final = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
#: Methods that must not change data: only these are repeated by ``--repeat``.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class ScenarioError(ValueError):
    """A scenario is declared wrongly, or cannot be found or imported."""


@dataclass(frozen=True)
class Request:
    """One request of a scenario.

    ``method`` and ``path`` are positional, everything else keyword-only:

    * ``query``: query-string parameters (a value may be a list).
    * ``data``: the body of a ``POST``/``PUT``/``PATCH``/``DELETE``. A dict or
      list is sent as JSON unless ``content_type`` is
      ``application/x-www-form-urlencoded``; ``str``/``bytes`` are sent as is.
    * ``user``: the username to log in as (``Client.force_login``), looked
      up by the user model's ``username`` field when it has one, else by
      its ``USERNAME_FIELD``; the set-up function must create that user.
    * ``headers``: extra request headers (``{"Accept-Language": "fr"}``);
      like the path, query and body, their values may hold ``{name}``
      placeholders the set-up fills (``{"Authorization": "Bearer {token}"}``).
    * ``status``: the expected status code, or a tuple of them. ``None``
      (default) accepts any status below 400.
    * ``name``: the label reports show; default ``"GET /path?query"``.
    """

    method: str
    path: str
    _: KW_ONLY
    query: Mapping[str, Any] = field(default_factory=dict)
    data: Any = None
    content_type: str | None = None
    user: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int | tuple[int, ...] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        method = self.method.upper() if isinstance(self.method, str) else self.method
        if method not in METHODS:
            raise ScenarioError(
                f"Request method {self.method!r} is not supported; use one of "
                f"{', '.join(METHODS)}."
            )
        object.__setattr__(self, "method", method)
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ScenarioError(
                f"Request path {self.path!r} must be a string starting with '/', "
                "the path Django resolves (e.g. '/api/events/'), without scheme or host."
            )
        if "?" in self.path and self.query:
            raise ScenarioError(
                f"Request path {self.path!r} has a query string and query= is also given; "
                "put the parameters in one place."
            )
        if not isinstance(self.query, Mapping):
            raise ScenarioError(f"Request query= must be a dict, got {self.query!r}.")
        object.__setattr__(self, "query", dict(self.query))
        object.__setattr__(self, "headers", dict(self.headers))
        if self.data is not None and method in SAFE_METHODS:
            raise ScenarioError(
                f"A {method} request has no body: pass its parameters as query=, not data=."
            )
        if self.user is not None and (not isinstance(self.user, str) or not self.user):
            raise ScenarioError(f"Request user= must be a username (str), got {self.user!r}.")
        for status in _statuses(self.status):
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
                raise ScenarioError(
                    f"Request status= must be an HTTP status code (100-599) or a tuple of "
                    f"them, got {self.status!r}."
                )

    @property
    def label(self) -> str:
        """How reports name this request: ``name`` or ``"GET /path?query (as user)"``."""
        if self.name:
            return self.name
        label = f"{self.method} {self.full_path}"
        return f"{label} (as {self.user})" if self.user else label

    @property
    def full_path(self) -> str:
        """The path with its query string."""
        if not self.query:
            return self.path
        return f"{self.path}?{urlencode(self.query, doseq=True)}"

    @property
    def expected(self) -> str:
        """The expected status, in words."""
        statuses = _statuses(self.status)
        if not statuses:
            return "a status below 400"
        return " or ".join(str(s) for s in statuses)

    def accepts(self, status: int) -> bool:
        """Whether ``status`` is what this request expects."""
        statuses = _statuses(self.status)
        return status in statuses if statuses else status < 400

    def resolve(self, context: Mapping[str, Any]) -> Request:
        """This request with ``{name}`` placeholders filled from ``context``.

        Filled everywhere a value can come from the set-up: the path, the
        query values, the header values (``{"Authorization": "Token {token}"}``)
        and the body (a string, or the strings inside a dict or list).
        Raises ``KeyError`` naming a placeholder ``context`` lacks.
        """
        filled = {
            "path": self.path.format_map(context) if "{" in self.path else self.path,
            "query": {k: _fill(v, context) for k, v in self.query.items()},
            "headers": {k: _fill(v, context) for k, v in self.headers.items()},
            "data": _fill(self.data, context),
        }
        if all(getattr(self, name) == value for name, value in filled.items()):
            return self
        return replace(self, **filled)


def _fill(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format_map(context) if "{" in value else value
    if isinstance(value, Mapping):
        return {k: _fill(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, context) for v in value)
    return value


def _statuses(status: int | tuple[int, ...] | None) -> tuple[Any, ...]:
    if status is None:
        return ()
    return tuple(status) if isinstance(status, tuple | list) else (status,)

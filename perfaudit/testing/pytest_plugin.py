"""pytest plugin: fixtures, markers and ``--perfaudit-update``.

Registered through the ``pytest11`` entry point, so installing perfaudit is
enough. perfaudit modules are imported lazily, inside fixtures and hooks, so
the plugin costs nothing in a project that does not use it and never touches
Django before pytest-django has configured it.

Fixtures: ``perfaudit`` (every assertion, bound to the test),
``assert_max_queries``, ``assert_queries_do_not_scale``, ``payload_snapshot``.
Markers: ``@pytest.mark.max_queries(n, using="default")`` and
``@pytest.mark.no_n_plus_one``, checked over the test's body (fixture set-up
excluded).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from perfaudit.capture import Recorder, Recording

__all__ = ["PerfAuditFixture"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perfaudit")
    group.addoption(
        "--perfaudit-update",
        action="store_true",
        default=False,
        help="Rewrite perfaudit payload snapshots instead of comparing them "
        "(same as PERFAUDIT_UPDATE=1).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "max_queries(n, using='default'): fail when the test body runs more than n queries "
        "(perfaudit).",
    )
    config.addinivalue_line(
        "markers", "no_n_plus_one: fail when the test body has an N+1 (perfaudit)."
    )
    config.addinivalue_line(
        "markers",
        "no_external_calls: fail when the test body makes an outbound HTTP request (perfaudit).",
    )
    config.addinivalue_line(
        "markers",
        "max_cache_calls(n, alias=None): fail when the test body makes more than n Django "
        "cache calls (perfaudit).",
    )
    if config.getoption("perfaudit_update", default=False):
        from perfaudit.testing.snapshots import set_update

        set_update(True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    max_queries = item.get_closest_marker("max_queries")
    no_n_plus_one = item.get_closest_marker("no_n_plus_one")
    side = (
        item.get_closest_marker("no_external_calls"),
        item.get_closest_marker("max_cache_calls"),
    )
    if max_queries is None and no_n_plus_one is None and side == (None, None):
        return (yield)

    from perfaudit.capture import record
    from perfaudit.testing import assertions

    using: Any = "default"
    limit: int | None = None
    if max_queries is not None:
        if not max_queries.args or not isinstance(max_queries.args[0], int):
            raise pytest.UsageError(
                f"{item.nodeid}: use @pytest.mark.max_queries(n) with an int n, "
                f"got {max_queries.args!r}."
            )
        limit = max_queries.args[0]
        using = max_queries.kwargs.get("using", "default")
    with record(using=assertions._aliases(using)) as recording:
        result = yield
    try:
        if limit is not None:
            assertions.check_max_queries(limit, recording, using)
        if no_n_plus_one is not None:
            assertions.assert_no_findings(recording, kinds=["n_plus_one"])
        _check_side(item, side, recording)
    except AssertionError as failure:
        # Raised from this hook, a failure would point at the plugin: name the
        # test and its marker instead, and leave the plugin's frames out.
        path, line, _ = item.location
        where = f"{path}:{line + 1}" if line is not None else path
        if isinstance(failure, _MarkerFailure):
            marker = failure.marker
        else:
            marker = "max_queries" if limit is not None else "no_n_plus_one"
        pytest.fail(f"{where}: @pytest.mark.{marker}: {failure}", pytrace=False)
    return result


def _check_side(item: pytest.Item, side: tuple[Any, Any], recording: Recording) -> None:
    """The ``no_external_calls`` and ``max_cache_calls`` markers."""
    from perfaudit.testing import external

    no_external, max_cache = side
    if no_external is not None:
        try:
            external.check_no_external_calls(recording)
        except AssertionError as failure:
            raise _MarkerFailure("no_external_calls", failure) from None
    if max_cache is None:
        return
    if not max_cache.args or not isinstance(max_cache.args[0], int):
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.max_cache_calls(n) with an int n, "
            f"got {max_cache.args!r}."
        )
    try:
        external.check_cache_calls_at_most(
            max_cache.args[0], recording, max_cache.kwargs.get("alias")
        )
    except AssertionError as failure:
        raise _MarkerFailure("max_cache_calls", failure) from None


class _MarkerFailure(AssertionError):
    def __init__(self, marker: str, failure: AssertionError) -> None:
        super().__init__(str(failure))
        self.marker = marker


def _snapshot_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


class PerfAuditFixture:
    """perfaudit's test API bound to one test (its module, for snapshots)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    @property
    def test_file(self) -> Path:
        return Path(str(self._request.node.path))

    def record(self, **options: Any) -> Recorder:
        """``perfaudit.record(**options)``."""
        from perfaudit.capture import record

        return record(**options)

    def assert_max_queries(
        self, num: int, *, using: str | Iterable[str] = "default"
    ) -> AbstractContextManager[Recording]:
        from perfaudit.testing.assertions import assert_max_queries

        return assert_max_queries(num, using=using)

    def assert_no_findings(
        self, recording: Recording, *, kinds: Iterable[str] | None = None
    ) -> None:
        from perfaudit.testing.assertions import assert_no_findings

        assert_no_findings(recording, kinds=kinds)

    def assert_no_n_plus_one(self, recording: Recording) -> None:
        self.assert_no_findings(recording, kinds=["n_plus_one"])

    def assert_no_external_calls(self) -> AbstractContextManager[Recording]:
        """``with perfaudit.assert_no_external_calls(): ...``"""
        from perfaudit.testing.external import assert_no_external_calls

        return assert_no_external_calls()

    def assert_cache_calls_at_most(
        self, num: int, *, alias: str | None = None
    ) -> AbstractContextManager[Recording]:
        """``with perfaudit.assert_cache_calls_at_most(3): ...``"""
        from perfaudit.testing.external import assert_cache_calls_at_most

        return assert_cache_calls_at_most(num, alias=alias)

    def assert_queries_do_not_scale(
        self,
        build: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        sizes: Sequence[int] = (2, 10),
        using: str | Iterable[str] = "default",
    ) -> list[Recording]:
        from perfaudit.testing.assertions import assert_queries_do_not_scale

        return assert_queries_do_not_scale(build, run, sizes=sizes, using=using)

    def assert_within_budget(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from perfaudit.testing.assertions import assert_within_budget

        return assert_within_budget(func, *args, **kwargs)

    def assert_payload_hash(
        self, response: object, expected: str, *, ignore: str | Iterable[str] = ()
    ) -> None:
        from perfaudit.testing.assertions import assert_payload_hash

        assert_payload_hash(response, expected, ignore=ignore)

    def payload_snapshot(
        self,
        response: object,
        name: str | None = None,
        *,
        queries: int | Recording | None = None,
        ignore: str | Iterable[str] = (),
    ) -> None:
        """Compare with (or create) the snapshot ``name`` (default: the test's name)."""
        from perfaudit.testing.assertions import assert_payload_unchanged

        assert_payload_unchanged(
            self.test_file,
            name or _snapshot_name(self._request.node.name),
            response,
            queries=queries,
            ignore=ignore,
        )


@pytest.fixture
def perfaudit(request: pytest.FixtureRequest) -> PerfAuditFixture:
    """Every perfaudit assertion, bound to this test."""
    return PerfAuditFixture(request)


@pytest.fixture
def assert_max_queries(
    request: pytest.FixtureRequest,
) -> Callable[..., AbstractContextManager[Recording]]:
    """``with assert_max_queries(15): ...`` — like pytest-django's
    ``django_assert_max_num_queries``, with perfaudit's messages."""
    return PerfAuditFixture(request).assert_max_queries


@pytest.fixture
def assert_queries_do_not_scale(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``assert_queries_do_not_scale(build, run, sizes=(2, 10))``."""
    return PerfAuditFixture(request).assert_queries_do_not_scale


@pytest.fixture
def payload_snapshot(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``payload_snapshot(response, name=None, queries=None)``."""
    return PerfAuditFixture(request).payload_snapshot

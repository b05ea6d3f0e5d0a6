"""``PerfAuditTestMixin``: perfaudit's assertions for unittest-style Django tests.

::

    from django.test import TestCase
    from perfaudit.testing import PerfAuditTestMixin

    class EventListTests(PerfAuditTestMixin, TestCase):
        def test_event_list_is_cheap(self):
            with self.assertNumQueriesAtMost(15):
                response = self.client.get("/api/events/")
            self.assertPayloadUnchanged(response, "event-list")

Works with ``SimpleTestCase``, ``TestCase``, ``TransactionTestCase`` and DRF's
``APITestCase``. Every failure message lists the queries by shape with their
call sites and the findings with the change that fixes them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from perfaudit.capture import Recording, record
from perfaudit.testing import assertions, external

# unittest (and pytest for TestCase tests) leave this module's frames out of
# failure tracebacks, so a failure points at the test.
__unittest = True

__all__ = ["PerfAuditTestMixin"]


class PerfAuditTestMixin:
    """Mix into a Django test case, before the test case class."""

    def assertNumQueriesAtMost(
        self,
        num: int,
        func: Callable[..., Any] | None = None,
        *args: Any,
        using: str | Iterable[str] = DEFAULT_DB_ALIAS,
        **kwargs: Any,
    ) -> Any:
        """At most ``num`` queries, like ``assertNumQueries`` but an upper bound.

        As a context manager when ``func`` is omitted; otherwise calls
        ``func(*args, **kwargs)`` and returns its result. ``using`` is an
        alias, a list of aliases, or ``"__all__"``.
        """
        __tracebackhide__ = True  # failures point at the test, not here
        context = assertions.assert_max_queries(num, using=using)
        if func is None:
            return context
        with context:
            return func(*args, **kwargs)

    def assertNoFindings(
        self,
        func: Callable[..., Any] | Recording | None = None,
        *args: Any,
        kinds: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """No findings (of ``kinds``) in a block, a call, or a recording."""
        __tracebackhide__ = True  # failures point at the test, not here
        return _checked(
            func, args, kwargs, lambda rec: assertions.assert_no_findings(rec, kinds=kinds)
        )

    def assertNoNPlusOne(
        self, func: Callable[..., Any] | Recording | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """No N+1 in a block, a call, or a recording; fails naming the relation and fix."""
        __tracebackhide__ = True  # failures point at the test, not here
        return _checked(
            func,
            args,
            kwargs,
            lambda rec: assertions.assert_no_findings(rec, kinds=["n_plus_one"]),
        )

    def assertQueriesDoNotScale(
        self,
        build: Callable[[int], Any],
        run: Callable[[], Any],
        *,
        sizes: Sequence[int] = (2, 10),
        using: str | Iterable[str] = DEFAULT_DB_ALIAS,
    ) -> list[Recording]:
        """The strongest N+1 proof: query counts must not grow with the data."""
        __tracebackhide__ = True  # failures point at the test, not here
        return assertions.assert_queries_do_not_scale(build, run, sizes=sizes, using=using)

    def assertNoExternalCalls(
        self, func: Callable[..., Any] | Recording | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """No outbound HTTP request (urllib3/requests, httpx) in a block, a call or a recording."""
        __tracebackhide__ = True  # failures point at the test, not here
        return _checked(func, args, kwargs, external.check_no_external_calls)

    def assertCacheCallsAtMost(
        self,
        num: int,
        func: Callable[..., Any] | Recording | None = None,
        *args: Any,
        alias: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """At most ``num`` Django cache calls (on ``alias``, default every cache)."""
        __tracebackhide__ = True  # failures point at the test, not here
        return _checked(
            func, args, kwargs, lambda rec: external.check_cache_calls_at_most(num, rec, alias)
        )

    def assertWithinBudget(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func`` (``self.client.get``…) and check the served view's budget."""
        __tracebackhide__ = True  # failures point at the test, not here
        return assertions.assert_within_budget(func, *args, **kwargs)

    def assertPayloadHash(
        self, response: object, expected: str, *, ignore: str | Iterable[str] = ()
    ) -> None:
        """The canonical payload hash of ``response`` is ``expected``."""
        __tracebackhide__ = True  # failures point at the test, not here
        assertions.assert_payload_hash(response, expected, ignore=ignore)

    def assertPayloadUnchanged(
        self,
        response: object,
        name: str,
        *,
        queries: int | Recording | None = None,
        ignore: str | Iterable[str] = (),
    ) -> None:
        """The payload matches the snapshot ``name`` beside this test module.

        Created on first run; rewritten only with ``PERFAUDIT_UPDATE=1`` or
        ``pytest --perfaudit-update``. ``queries`` (a count or the recording of
        the request) is stored with it so reviews see the cost next to the hash.
        """
        __tracebackhide__ = True  # failures point at the test, not here
        assertions.assert_payload_unchanged(
            inspect.getfile(type(self)), name, response, queries=queries, ignore=ignore
        )


def _checked(
    func: Callable[..., Any] | Recording | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    check: Callable[[Recording], None],
) -> Any:
    __tracebackhide__ = True  # failures point at the test, not here
    if isinstance(func, Recording):
        check(func)
        return None
    if func is None:
        return _recording_then(check)
    with record() as recording:
        result = func(*args, **kwargs)
    check(recording)
    return result


@contextlib.contextmanager
def _recording_then(check: Callable[[Recording], None]) -> Iterator[Recording]:
    __tracebackhide__ = True  # failures point at the test, not here
    with record() as recording:
        yield recording
    check(recording)

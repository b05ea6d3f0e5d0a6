"""The test assertions, framework-neutral: they raise ``AssertionError``.

``perfaudit.testing.PerfAuditTestMixin`` (unittest style) and
``perfaudit.testing.pytest_plugin`` (fixtures and markers) are thin wrappers over
these functions, so both styles fail with the same messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from perfaudit.capture import Recording, record
from perfaudit.detect.budgets import budget_for
from perfaudit.payload import digest, payload_hash
from perfaudit.testing.messages import describe, findings_text
from perfaudit.testing.snapshots import check_payload_snapshot

# unittest (and pytest for TestCase tests) leave this module's frames out of
# failure tracebacks, so a failure points at the test.
__unittest = True

__all__ = [
    "assert_max_queries",
    "assert_no_findings",
    "assert_payload_hash",
    "assert_payload_unchanged",
    "assert_queries_do_not_scale",
    "assert_within_budget",
    "check_max_queries",
]

ALL_ALIASES = "__all__"


def _aliases(using: str | Iterable[str]) -> list[str] | None:
    if using == ALL_ALIASES:
        return None
    return [using] if isinstance(using, str) else list(using)


def _where(using: str | Iterable[str]) -> str:
    if using == ALL_ALIASES:
        return "all databases"
    names = [using] if isinstance(using, str) else list(using)
    return ", ".join(repr(name) for name in names)


def check_max_queries(limit: int, recording: Recording, using: str | Iterable[str]) -> None:
    """Fail when ``recording`` ran more than ``limit`` queries."""
    __tracebackhide__ = True  # failures point at the test, not here
    if len(recording) <= limit:
        return
    findings = recording.analysis.findings
    hint = (
        "Fix the findings above, or raise the limit if the extra queries are intended."
        if findings
        else "Look for the shapes that repeat above, or raise the limit if they are intended."
    )
    headline = f"Expected at most {limit} queries on {_where(using)}, ran {len(recording)}."
    raise AssertionError(describe(headline, recording, findings, hint=hint))


@contextlib.contextmanager
def assert_max_queries(
    limit: int, *, using: str | Iterable[str] = DEFAULT_DB_ALIAS
) -> Iterator[Recording]:
    """Context manager: the block may run at most ``limit`` queries.

    ``using`` is an alias, a list of aliases, or ``"__all__"``.
    """
    __tracebackhide__ = True  # failures point at the test, not here
    with record(using=_aliases(using)) as recording:
        yield recording
    check_max_queries(limit, recording, using)


def assert_no_findings(recording: Recording, *, kinds: Iterable[str] | None = None) -> None:
    """Fail listing each finding (of ``kinds``, default all) with its suggestion."""
    __tracebackhide__ = True  # failures point at the test, not here
    findings = recording.analysis.findings_of(kinds)
    if not findings:
        return
    what = ", ".join(sorted({f.kind for f in findings}))
    headline = f"Expected no {what} findings, found {len(findings)}:"
    body = findings_text(findings, title="")
    raise AssertionError(
        describe(headline + body, recording, hint="Apply the fix each finding names.")
    )


def assert_queries_do_not_scale(
    build: Callable[[int], Any],
    run: Callable[[], Any],
    *,
    sizes: Sequence[int] = (2, 10),
    using: str | Iterable[str] = DEFAULT_DB_ALIAS,
) -> list[Recording]:
    """Fail when the queries of ``run()`` grow with the size of the data.

    For each size, ``build(size)`` creates the data and ``run()`` is
    recorded; both are rolled back before the next size, so sizes do not add
    up. No heuristics: if any query shape runs more often at a larger size, the
    code does per-row work.
    """
    __tracebackhide__ = True  # failures point at the test, not here
    if len(sizes) < 2 or sorted(sizes) != list(sizes) or len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be at least two increasing numbers, got {sizes!r}.")
    aliases = _aliases(using)
    databases = list(connections) if aliases is None else aliases
    recordings: list[Recording] = []
    for size in sizes:
        with contextlib.ExitStack() as stack:
            for alias in databases:
                stack.enter_context(transaction.atomic(using=alias))
            build(size)
            with record(using=aliases) as recording:
                run()
            for alias in databases:
                transaction.set_rollback(True, using=alias)
        recordings.append(recording)

    first, last = recordings[0], recordings[-1]
    before = {(s.fingerprint, s.alias): s.count for s in first.analysis.shapes}
    grown = [
        (shape.fingerprint, before.get((shape.fingerprint, shape.alias), 0), shape.count)
        for shape in last.analysis.shapes
        if shape.count > before.get((shape.fingerprint, shape.alias), 0)
    ]
    if not grown:
        return recordings
    counts = ", ".join(f"{len(r)} at size {s}" for s, r in zip(sizes, recordings, strict=True))
    lines = [f"Query count grows with the data: {counts}.", "", "Shapes that grew:"]
    for fingerprint, small, large in grown:
        lines.append(f"  {small} → {large} (+{large - small})  {fingerprint}")
    findings = last.analysis.findings
    raise AssertionError(
        describe(
            "\n".join(lines),
            last,
            findings,
            hint=f"Queries listed are those of the largest size ({sizes[-1]}).",
        )
    )


def assert_within_budget(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` (e.g. ``client.get``), check its view's budget, return the response."""
    __tracebackhide__ = True  # failures point at the test, not here
    with record() as recording:
        response = func(*args, **kwargs)
    match = getattr(response, "resolver_match", None)
    view_name = getattr(match, "view_name", None)
    if not view_name:
        raise AssertionError(
            "The response has no resolver_match.view_name: call the view through "
            "Django's test client (client.get(...)), and name the URL pattern."
        )
    if budget_for(view_name) is None:
        raise AssertionError(
            f'No budget for view {view_name!r} in PERFAUDIT["BUDGETS"]; add one, e.g. '
            f'PERFAUDIT = {{"BUDGETS": {{"{view_name}": {{"queries": {len(recording)}}}}}}}.'
        )
    violations = recording.analysis.violations(view_name)
    if violations:
        headline = "\n".join(str(v) for v in violations)
        raise AssertionError(
            describe(
                headline, recording, recording.analysis.findings, hint="Fix the findings above."
            )
        )
    return response


def assert_payload_hash(
    response: object, expected: str, *, ignore: str | Iterable[str] = ()
) -> None:
    """Fail unless ``response``'s payload hash (status, content type, body) is ``expected``."""
    __tracebackhide__ = True  # failures point at the test, not here
    actual = payload_hash(response, ignore=ignore)
    if actual == expected:
        return
    found = digest(response, ignore=ignore)
    if found.canonical == expected and found.canonical != actual:
        raise AssertionError(
            f"Payload hash differs: expected {expected}, got {actual}. {expected} is the hash "
            f"of the body alone, which is unchanged; the payload hash also covers the status "
            f"({found.status}) and the content type ({found.content_type!r}). Update the "
            f"expected hash to {actual}."
        )
    raise AssertionError(
        f"Payload hash differs: expected {expected}, got {actual}. The endpoint no longer "
        f"sends the same response (status {found.status}, {found.content_type!r}); compare "
        f"the two payloads with perfaudit.payload.first_difference() to see where."
    )


def assert_payload_unchanged(
    test_file: str | Path,
    name: str,
    response: object,
    *,
    queries: int | Recording | None = None,
    ignore: str | Iterable[str] = (),
) -> None:
    __tracebackhide__ = True  # failures point at the test, not here
    count = len(queries) if isinstance(queries, Recording) else queries
    result = check_payload_snapshot(test_file, name, response, queries=count, ignore=ignore)
    if not result.ok:
        raise AssertionError(result.message)

"""The audit report as text (terminal), Markdown (pull requests) and JSON (machines).

All three render the same :class:`perfaudit.audit.engine.AuditResult`; JSON is its
``to_dict()``, the document ``compare`` reads.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Callable
from typing import Final

from django.core.management.color import Style

from perfaudit.audit.results import AuditResult, RequestResult
from perfaudit.text import plural

__all__ = ["FORMATS", "render"]

FORMATS: Final = ("text", "markdown", "json")

_WIDTH: Final = 100


def render(result: AuditResult, fmt: str, style: Style) -> str:
    """``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return _markdown(result)
    return _text(result, style)


def short_hash(result: RequestResult) -> str:
    payload = result.payload
    if payload is None:
        return "-"
    if payload.hash is None:
        return f"not hashable ({payload.kind})"
    algorithm, _, hexdigest = payload.hash.partition(":")
    return f"{algorithm}:{hexdigest[:12]}"


def _queries(count: int) -> str:
    return "1 query" if count == 1 else f"{count} queries"


def _measures(result: RequestResult) -> tuple[str, ...]:
    """Queries, DB, cache, HTTP, CPU and total ms; dashes for what was not measured."""
    if not result.query_counts:
        return ("-",) * 6
    if not result.total_ms_runs:  # the view raised: only its queries are known
        return (str(result.queries), *("-",) * 5)
    cpu = f"{result.cpu_ms:.1f}" if result.cpu_ms is not None else "-"
    return (
        str(result.queries),
        f"{result.db_ms:.1f}",
        f"{result.cache_ms:.1f}",
        f"{result.http_ms:.1f}",
        cpu,
        f"{result.total_ms:.1f}",
    )


_UNITS: Final = {"external_call": ("call", "calls"), "cache_repeat": ("read", "reads")}


def _count(kind: str, count: int) -> str:
    """ "3 queries", or the unit of a finding that is not about queries."""
    one, many = _UNITS.get(kind, ("query", "queries"))
    return f"{count} {one if count == 1 else many}"


def _status(result: RequestResult) -> str:
    return str(result.status) if result.status is not None else "-"


def _finding_counts(result: RequestResult) -> str:
    if not result.findings:
        return "none"
    counts = Counter(f.kind for f in result.findings)
    return ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items())


def _header(result: AuditResult) -> str:
    runs = "1 run" if result.repeat == 1 else f"{result.repeat} runs, median"
    requests = sum(len(s.requests) or len(s.scenario.requests) for s in result.scenarios)
    return (
        f"perfaudit audit: {plural(len(result.scenarios), 'scenario')}, "
        f"{plural(requests, 'request')} on {result.vendor} (throwaway test database), {runs}"
    )


def _summary(result: AuditResult) -> str:
    requests = [r for s in result.scenarios for r in s.requests]
    failed = sum(1 for s in result.scenarios if not s.ok)
    findings = sum(len(r.findings) for r in requests)
    return (
        f"{plural(len(result.scenarios) - failed, 'scenario')} ok, {failed} failed; "
        f"{plural(sum(r.queries for r in requests), 'query', 'queries')}, "
        f"{plural(findings, 'finding')} in {result.duration_s:.1f} s"
    )


# -- text ---------------------------------------------------------------------


def _text(result: AuditResult, style: Style) -> str:
    lines = [style.MIGRATE_HEADING(_header(result)), ""]
    rows: list[tuple[str, ...]] = [
        (
            "scenario",
            "request",
            "status",
            "queries",
            "DB ms",
            "cache ms",
            "HTTP ms",
            "CPU ms",
            "total ms",
            "payload",
        )
    ]
    marks: list[Callable[[str], str]] = [style.MIGRATE_LABEL]
    for s in result.scenarios:
        if not s.requests:
            rows.append((s.scenario.name, "(set-up failed)", *("-",) * 8))
            marks.append(style.ERROR)
        for r in s.requests:
            rows.append(
                (s.scenario.name, r.request.label, _status(r), *_measures(r), short_hash(r))
            )
            marks.append(style.SUCCESS if r.ok else style.ERROR)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4, 5, 6, 7, 8}
    for row, mark in zip(rows, marks, strict=True):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append(mark("  ".join(cells).rstrip()))

    for s in result.scenarios:
        detail = _text_scenario_detail(s.scenario.name, s.error, s.requests, style)
        if detail:
            lines.extend(["", *detail])
    tax = _tax_lines(result, markdown=False)
    if tax:
        lines.extend(["", style.MIGRATE_HEADING(tax[0]), *tax[1:]])
    lines.extend(["", (style.SUCCESS if result.ok else style.ERROR)(_summary(result))])
    return "\n".join(lines)


def _text_scenario_detail(
    name: str, error: str | None, requests: list[RequestResult], style: Style
) -> list[str]:
    lines: list[str] = []
    if error:
        lines.append(style.ERROR(f"FAILED {error}"))
    for r in requests:
        if not r.findings and not r.violations and r.ok and not r.volatile:
            continue
        lines.append(style.MIGRATE_HEADING(f"{name}  {r.request.label}"))
        if r.error:
            lines.append(style.ERROR(f"  FAILED {r.error}"))
        if r.volatile:
            lines.append(style.NOTICE(f"  payload volatile, ignored: {', '.join(r.volatile)}"))
        for violation in r.violations:
            lines.append(style.WARNING(f"  over budget: {violation}"))
        for finding in r.findings:
            what = finding.relation or finding.model or finding.table or ""
            count = _count(finding.kind, finding.count)
            head = f"  {finding.severity:<6} {finding.kind:<15} {what} ({count})"
            lines.append(style.WARNING(head.rstrip()))
            # The prose names the fix (in backticks); a separate "fix:" line
            # would say it twice. JSON keeps it in its own field.
            lines.extend(
                textwrap.wrap(
                    finding.suggestion,
                    _WIDTH,
                    initial_indent="         ",
                    subsequent_indent="         ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    return lines


# -- markdown -----------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(result: AuditResult) -> str:
    lines = [
        "### perfaudit audit",
        "",
        _header(result) + ".",
        "",
        "| scenario | request | status | queries | DB ms | cache ms | HTTP ms | CPU ms "
        "| total ms | payload | findings |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for s in result.scenarios:
        if not s.requests:
            dashes = " - |" * 9
            lines.append(f"| {_md(s.scenario.name)} | (set-up failed) |{dashes}")
        for r in s.requests:
            status = _status(r) if r.ok else f"**{_status(r)} FAILED**"
            measures = " | ".join(_measures(r))
            lines.append(
                f"| {_md(s.scenario.name)} | `{_md(r.request.label)}` | {status} | "
                f"{measures} | `{short_hash(r)}` | "
                f"{_md(_finding_counts(r))} |"
            )
    failures = result.failures()
    if failures:
        lines.extend(["", "#### Failures", ""])
        lines.extend(f"- {_md(line)}" for line in failures)
    details = [(s.scenario.name, r) for s in result.scenarios for r in s.requests if r.findings]
    if details:
        lines.extend(["", "#### Findings"])
        for name, r in details:
            lines.extend(["", f"**{_md(name)}** `{_md(r.request.label)}`", ""])
            for finding in r.findings:
                what = finding.relation or finding.model or finding.table
                subject = f" `{what}`" if what else ""
                fix = f" Fix: `{finding.fix}`." if finding.fix else ""
                count = _count(finding.kind, finding.count)
                lines.append(
                    f"- **{finding.kind}** ({finding.severity}, {count})"
                    f"{subject}.{fix} {finding.suggestion}"
                )
    volatile = [(s.scenario.name, r) for s in result.scenarios for r in s.requests if r.volatile]
    if volatile:
        lines.extend(["", "#### Volatile payload fields (ignored)", ""])
        lines.extend(
            f"- {_md(name)} `{_md(r.request.label)}`: {_md(', '.join(r.volatile))}"
            for name, r in volatile
        )
    budget = [(s.scenario.name, r) for s in result.scenarios for r in s.requests if r.violations]
    if budget:
        lines.extend(["", "#### Over budget", ""])
        lines.extend(f"- {_md(str(v))}" for _, r in budget for v in r.violations)
    tax = _tax_lines(result, markdown=True)
    if tax:
        lines.extend(["", f"#### {tax[0]}", "", *tax[1:]])
    lines.extend(["", _summary(result) + "."])
    return "\n".join(lines)


def _tax_lines(result: AuditResult, *, markdown: bool) -> list[str]:
    """The middleware tax: a title, then per request each middleware's median ms and
    the ones whose work the view never used."""
    lines = []
    for s in result.scenarios:
        for r in s.requests:
            if not r.middleware:
                continue
            total = sum(m["ms"] for m in r.middleware)
            parts = ", ".join(
                f"{m['name'].rsplit('.', 1)[-1]} {m['ms']:.2f}{'*' if m['unused'] else ''}"
                for m in r.middleware
            )
            where = f"{s.scenario.name} {r.request.label}"
            lines.append(
                f"- **{_md(where)}** {total:.2f} ms: {parts}"
                if markdown
                else f"  {where}  {total:.2f} ms: {parts}"
            )
            indent = "  - " if markdown else "      * "
            lines.extend(
                f"{indent}{m['name'].rsplit('.', 1)[-1]}: {m['unused']}"
                for m in r.middleware
                if m["unused"]
            )
    if not lines:
        return []
    return ["Middleware tax (median ms per request; * = work the view never used)", *lines]

"""Rendering of the report: text for people, markdown and json from the same data.

Kept apart from :mod:`perfaudit.cli.report` (the command's arguments and
flow) so each stays small. Text goes through ``command.style`` (plain when the
output is not a terminal); markdown is GitHub-flavoured, for a pull request;
json holds every number and never a parameter value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import orjson
from django.core.management.base import BaseCommand

from perfaudit.report.explain import Explained
from perfaudit.report.inventory import Inventory, ShapeHotspot
from perfaudit.sql.shape import clip
from perfaudit.text import plural

__all__ = ["render_json", "render_markdown", "render_text"]

# Characters of a fingerprint shown in text and markdown (json has them all).
_SQL_WIDTH: Final = 160
_LISTED: Final = 3  # views / call sites listed per shape before "+N more"


# -- json ---------------------------------------------------------------------------


def render_json(
    inventory: Inventory, shown: Sequence[ShapeHotspot], plans: Sequence[Explained]
) -> str:
    data = inventory.to_dict()
    data["shapes_total"] = len(inventory.shapes)
    data["shapes"] = [shape.to_dict() for shape in shown]
    for shape, plan in zip(data["shapes"], plans, strict=False):
        shape["explain"] = plan.to_dict()
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


# -- text ---------------------------------------------------------------------------


def render_text(
    command: BaseCommand,
    inventory: Inventory,
    shown: Sequence[ShapeHotspot],
    plans: Sequence[Explained],
) -> None:
    style, out = command.style, command.stdout
    out.write(style.MIGRATE_HEADING(_headline(inventory)))
    if inventory.dropped:
        out.write(style.WARNING(_dropped(inventory) + "."))
    if not inventory.requests:
        out.write("Nothing recorded yet: the file holds no requests.")
        return
    out.write("")
    out.write(style.MIGRATE_HEADING("Hotspots: query shapes by total DB time"))
    header = ("#", "total ms", "count", "mean ms", "requests", "kind")
    rows = [
        (
            str(rank),
            f"{shape.total_ms:.1f}",
            str(shape.count),
            f"{shape.mean_ms:.3f}",
            str(shape.requests),
            shape.kind + (f" [{shape.alias}]" if shape.alias != "default" else ""),
        )
        for rank, shape in enumerate(shown, start=1)
    ]
    head, *lines = _aligned([header, *rows], left=(5,))
    out.write("  " + head)
    for rank, (shape, line) in enumerate(zip(shown, lines, strict=True), start=1):
        out.write(style.MIGRATE_LABEL("  " + line))
        out.write(f"      {_clip(shape.fingerprint)}")
        out.write(f"      views (queries): {_listed(shape.views)}")
        out.write(f"      call sites (queries): {_listed(shape.callsites) or 'unknown'}")
        for finding in shape.findings:
            paint = style.ERROR if finding.severity == "high" else style.WARNING
            out.write(
                paint(f"      {finding.kind} [{finding.severity}]")
                + f" in {plural(finding.requests, 'request', 'requests')}: {finding.suggestion}"
            )
        if rank <= len(plans):
            _text_plan(command, plans[rank - 1])
    if len(shown) < len(inventory.shapes):
        out.write(f"  ... {len(inventory.shapes) - len(shown)} more shapes (--top 0 lists all)")
    out.write("")
    out.write(style.MIGRATE_HEADING("Views by total DB time"))
    view_rows = [_view_row(view.to_dict()) for view in inventory.views]
    for line in _aligned([_VIEW_HEADER, *view_rows], left=(0, len(_VIEW_HEADER) - 2)):
        out.write("  " + line)


def _text_plan(command: BaseCommand, plan: Explained) -> None:
    if plan.status == "ok":
        command.stdout.write("      EXPLAIN:")
        for line in plan.plan:
            command.stdout.write(f"        {line}")
    else:
        paint = command.style.NOTICE if plan.status == "skipped" else command.style.ERROR
        command.stdout.write(paint(f"      EXPLAIN {plan.status}: {plan.reason}"))


_VIEW_HEADER: Final = (
    "view",
    "requests",
    "queries p50",
    "p95",
    "max",
    "DB ms p50",
    "p95",
    "total ms p50",
    "p95",
    "cache ms p50",
    "HTTP ms p50",
    "CPU ms p50",
    "findings",
    "over budget",
)


def _view_row(view: dict[str, Any]) -> tuple[str, ...]:
    findings = ", ".join(f"{kind} ({n})" for kind, n in view["findings"].items()) or "-"
    return (
        view["view"],
        str(view["requests"]),
        f"{view['queries_p50']:g}",
        f"{view['queries_p95']:g}",
        str(view["queries_max"]),
        f"{view['db_ms_p50']:.1f}",
        f"{view['db_ms_p95']:.1f}",
        f"{view['total_ms_p50']:.1f}",
        f"{view['total_ms_p95']:.1f}",
        f"{view['cache_ms_p50']:.1f}",
        f"{view['http_ms_p50']:.1f}",
        f"{view['cpu_ms_p50']:.1f}" if view["cpu_ms_p50"] is not None else "-",
        findings,
        str(view["budget_violations"]),
    )


def _aligned(rows: Sequence[Sequence[str]], *, left: Sequence[int] = ()) -> list[str]:
    """Columns padded to their widest cell: numbers right-aligned, ``left`` columns left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


# -- markdown -------------------------------------------------------------------------


def render_markdown(
    inventory: Inventory, shown: Sequence[ShapeHotspot], plans: Sequence[Explained]
) -> str:
    lines = ["# perfaudit report", "", _summary(inventory, code=True) + ".", ""]
    if inventory.dropped:
        lines += [f"**{_dropped(inventory)}.**", ""]
    lines += ["## Hotspots: query shapes by total DB time", ""]
    lines.append(
        "| # | total ms | count | mean ms | requests | kind | shape | views (queries) "
        "| call sites (queries) | findings |"
    )
    lines.append("| ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |")
    for rank, shape in enumerate(shown, start=1):
        findings = "<br>".join(
            f"**{f.kind}** ({f.severity}, {plural(f.requests, 'request', 'requests')}): "
            f"{_escape_html(f.suggestion)}"
            for f in shape.findings
        )
        cells = (
            str(rank),
            f"{shape.total_ms:.1f}",
            str(shape.count),
            f"{shape.mean_ms:.3f}",
            str(shape.requests),
            shape.kind,
            _code(_clip(shape.fingerprint)),
            _escape_html(_listed(shape.views)),
            _escape_html(_listed(shape.callsites)) or "unknown",
            findings or "-",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if len(shown) < len(inventory.shapes):
        rest = len(inventory.shapes) - len(shown)
        lines += ["", f"{plural(rest, 'more shape')} not listed (--top 0 lists all)."]
    lines += ["", "## Views by total DB time", ""]
    lines.append("| " + " | ".join(_VIEW_HEADER) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in _VIEW_HEADER[1:-2]) + " | --- | ---: |")
    for view in inventory.views:
        lines.append("| " + " | ".join(_cell(c) for c in _view_row(view.to_dict())) + " |")
    lines += markdown_plans(shown, plans)
    return "\n".join(lines).rstrip("\n")


def markdown_plans(shown: Sequence[Any], plans: Sequence[Explained]) -> list[str]:
    """The EXPLAIN section of a markdown report: one heading and plan per shape."""
    if not plans:
        return []
    lines = ["", "## EXPLAIN", ""]
    for rank, (shape, plan) in enumerate(zip(shown, plans, strict=False), start=1):
        lines += [f"### {rank}. {_code(_clip(shape.fingerprint))}", ""]
        if plan.status == "ok":
            lines += ["```text", *plan.plan, "```", ""]
        else:
            lines += [f"EXPLAIN {plan.status}: {plan.reason}", ""]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _escape_html(text: str) -> str:
    """``<`` and ``>`` outside code spans as entities: Markdown renderers drop
    ``<locals>`` or ``<lambda>`` (in call sites) as unknown HTML tags. Code
    spans show their text literally, so they are left alone."""
    parts = text.split("`")
    return "`".join(
        part if i % 2 else part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for i, part in enumerate(parts)
    )


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


# -- shared -----------------------------------------------------------------------------


def _headline(inventory: Inventory) -> str:
    return f"perfaudit report: {_summary(inventory)}"


def _summary(inventory: Inventory, *, code: bool = False) -> str:
    source = f"`{inventory.source}`" if code else inventory.source
    return (
        f"{plural(inventory.requests, 'request', 'requests')}, "
        f"{plural(len(inventory.views), 'view', 'views')}, "
        f"{plural(len(inventory.shapes), 'query shape', 'query shapes')} from {source}"
    )


def _dropped(inventory: Inventory) -> str:
    return (
        f"{plural(inventory.dropped, 'more request was', 'more requests were')} recorded "
        "but not reported: their responses were never closed (see the middleware docs)"
    )


def _clip(text: str, width: int = _SQL_WIDTH) -> str:
    return clip(text, width)


def _listed(counts: Counter[str]) -> str:
    common = counts.most_common()
    listed = ", ".join(f"{name} ({n})" for name, n in common[:_LISTED])
    more = len(common) - _LISTED
    return listed + (f", +{more} more" if more > 0 else "")

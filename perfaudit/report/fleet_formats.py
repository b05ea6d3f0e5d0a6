"""Rendering of ``report --pg-stat-statements`` and ``report --capacity``.

Apart from :mod:`perfaudit.report.formats` (the hotspot inventory) so each
module stays small; the same three formats, from the same data: text for
people, markdown for a pull request or an issue, json for scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import orjson
from django.core.management.base import BaseCommand

from perfaudit.report.capacity import CapacityModel, ViewLoad
from perfaudit.report.explain import Explained
from perfaudit.report.formats import _aligned, _cell, _clip, _code, _listed, markdown_plans
from perfaudit.report.pg_stat import PgStatReport, StatementShape
from perfaudit.text import plural as _plural

__all__ = [
    "capacity_json",
    "capacity_markdown",
    "capacity_text",
    "pg_json",
    "pg_markdown",
    "pg_text",
]

_UNEXPLAINED_LISTED: Final = 10


# -- pg_stat_statements ---------------------------------------------------------------


def pg_json(
    report: PgStatReport, shown: Sequence[StatementShape], plans: Sequence[Explained]
) -> str:
    data = report.to_dict(shown)
    for shape, plan in zip(data["shapes"], plans, strict=False):
        shape["explain"] = plan.to_dict()
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _pg_headline(report: PgStatReport) -> str:
    return (
        f"perfaudit report --pg-stat-statements: database {report.dbname!r} "
        f"(alias {report.alias!r}), {_plural(report.entries, 'statement', 'statements')} "
        f"in {_plural(len(report.shapes), 'shape', 'shapes')}, {report.total_ms:.1f} ms "
        f"executing; {report.explained_share:.0%} of it explained by "
        f"{_plural(report.inventory.requests, 'recorded request', 'recorded requests')} "
        f"from {report.inventory.source}"
    )


def _pg_row(rank: int, shape: StatementShape) -> tuple[str, ...]:
    return (
        str(rank),
        f"{shape.total_ms:.1f}",
        f"{shape.share:.1%}",
        str(shape.calls),
        f"{shape.mean_ms:.3f}",
        str(shape.hotspot.count) if shape.hotspot else "-",
        shape.kind or "?",
    )


_PG_HEADER: Final = ("#", "total ms", "share", "calls", "mean ms", "recorded", "kind")


def pg_text(
    command: BaseCommand,
    report: PgStatReport,
    shown: Sequence[StatementShape],
    plans: Sequence[Explained],
) -> None:
    style, out = command.style, command.stdout
    out.write(style.MIGRATE_HEADING(_pg_headline(report)))
    if not report.shapes:
        out.write("pg_stat_statements holds no statement of this database yet.")
        return
    out.write("")
    out.write(style.MIGRATE_HEADING("Shapes by execution time in the database"))
    head, *lines = _aligned([_PG_HEADER, *(_pg_row(r, s) for r, s in enumerate(shown, 1))])
    out.write("  " + head)
    for rank, (shape, line) in enumerate(zip(shown, lines, strict=True), start=1):
        out.write(style.MIGRATE_LABEL("  " + line))
        out.write(f"      {_clip(shape.fingerprint)}")
        hotspot = shape.hotspot
        if hotspot is None:
            out.write(style.NOTICE("      no recorded request ran it"))
        else:
            out.write(f"      views (queries): {_listed(hotspot.views)}")
            out.write(f"      call sites (queries): {_listed(hotspot.callsites) or 'unknown'}")
            for finding in hotspot.findings:
                paint = style.ERROR if finding.severity == "high" else style.WARNING
                out.write(
                    paint(f"      {finding.kind} [{finding.severity}]") + f": {finding.suggestion}"
                )
        if rank <= len(plans):
            _text_plan(command, plans[rank - 1])
    if len(shown) < len(report.shapes):
        out.write(f"  ... {len(report.shapes) - len(shown)} more shapes (--top 0 lists all)")
    unexplained = report.unexplained
    out.write("")
    out.write(
        style.MIGRATE_HEADING(
            f"Run by the database, explained by no recorded request: "
            f"{_plural(len(unexplained), 'shape', 'shapes')}, "
            f"{sum(s.total_ms for s in unexplained):.1f} ms"
        )
    )
    for shape in unexplained[:_UNEXPLAINED_LISTED]:
        out.write(
            f"  {shape.total_ms:9.1f} ms  {shape.calls:>7} calls  {_clip(shape.fingerprint, 120)}"
        )
    if len(unexplained) > _UNEXPLAINED_LISTED:
        out.write(f"  ... {len(unexplained) - _UNEXPLAINED_LISTED} more (--format json lists all)")
    if report.hidden:
        out.write(
            style.NOTICE(
                f"  {report.hidden} statements of other users are hidden: grant pg_read_all_stats "
                "to the report's database user to see their text"
            )
        )


def _text_plan(command: BaseCommand, plan: Explained) -> None:
    if plan.status == "ok":
        command.stdout.write("      EXPLAIN:")
        for line in plan.plan:
            command.stdout.write(f"        {line}")
    else:
        paint = command.style.NOTICE if plan.status == "skipped" else command.style.ERROR
        command.stdout.write(paint(f"      EXPLAIN {plan.status}: {plan.reason}"))


def pg_markdown(
    report: PgStatReport, shown: Sequence[StatementShape], plans: Sequence[Explained]
) -> str:
    lines = ["# perfaudit report --pg-stat-statements", "", _pg_headline(report) + ".", ""]
    lines += ["## Shapes by execution time in the database", ""]
    lines.append(
        "| " + " | ".join(_PG_HEADER) + " | shape | views (queries) | call sites (queries) |"
    )
    lines.append("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for rank, shape in enumerate(shown, start=1):
        hotspot = shape.hotspot
        cells = (
            *_pg_row(rank, shape),
            _code(_clip(shape.fingerprint)),
            _listed(hotspot.views) if hotspot else "no recorded request",
            (_listed(hotspot.callsites) or "unknown") if hotspot else "-",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    unexplained = report.unexplained
    lines += ["", "## Explained by no recorded request", ""]
    lines += [
        f"- {s.total_ms:.1f} ms, {s.calls} calls: {_code(_clip(s.fingerprint))}"
        for s in unexplained
    ] or ["None: every shape the database ran was recorded."]
    lines += markdown_plans(shown, plans)
    return "\n".join(lines).rstrip("\n")


# -- capacity ---------------------------------------------------------------------------


def capacity_json(model: CapacityModel) -> str:
    return orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2).decode()


def _capacity_headline(model: CapacityModel, source: str | None) -> str:
    target = (
        f", target {model.target_rps:g} req/s split by the recorded mix"
        if model.target_rps is not None
        else ""
    )
    return (
        f"perfaudit report --capacity: {_plural(model.workers, 'worker', 'workers')}{target}; "
        f"{_plural(sum(v.requests for v in model.views), 'request', 'requests')}, "
        f"{_plural(len(model.views), 'view', 'views')} from {source}"
    )


_UNITS: Final = {
    "worker_rps": "one worker",
    "instance_rps": "instance ceiling",
    "cores_at_ceiling": "CPU at the ceiling",
    "db_seconds_per_second": "DB time at target",
    "in_flight": "in flight at target",
    "cores_at_target": "CPU at target",
}


def capacity_text(command: BaseCommand, model: CapacityModel, source: str | None) -> None:
    style, out = command.style, command.stdout
    out.write(style.MIGRATE_HEADING(_capacity_headline(model, source)))
    if not model.views:
        out.write("Nothing recorded yet: the file holds no requests.")
        return
    blocks: list[tuple[ViewLoad, float | None, float]] = [
        (view, model.rate_of(view), model.share(view)) for view in model.views
    ]
    mix = model.mix()
    blocks.append((mix, model.target_rps, 1.0))
    for view, rate, share in blocks:
        out.write("")
        measured = (
            "CPU measured"
            if view.cpu_measured
            else "CPU estimated as wall − DB where the file has no CPU figure"
        )
        out.write(
            style.MIGRATE_LABEL(f"  {view.view}")
            + f"  {_plural(view.requests, 'request', 'requests')}, {share:.0%} of traffic"
            + (f", {rate:.2f} req/s at target" if rate is not None else "")
            + f"; mean wall {view.wall_ms:.1f} ms, DB {view.db_ms:.1f} ms, "
            f"CPU {view.cpu_ms:.1f} ms ({measured})"
        )
        rows = [
            (_UNITS[f.name], f"{f.value:.2f}", f.unit, f"= {f.basis}")
            for f in model.figures(view, rate=rate)
        ]
        if rows:
            for line in _aligned(rows, left=(0, 2, 3)):
                out.write("    " + line)
        total = rate if view is mix else None
        for warning in model.warnings(view, total_rate=total):
            out.write(style.WARNING(f"    ! {warning}"))


def capacity_markdown(model: CapacityModel, source: str | None) -> str:
    lines = ["# perfaudit report --capacity", "", _capacity_headline(model, source) + ".", ""]
    lines.append("| view | requests | share | wall ms | DB ms | CPU ms | figure | value | from |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    blocks = [(v, model.rate_of(v), model.share(v)) for v in model.views]
    mix = model.mix()
    if model.views:
        blocks.append((mix, model.target_rps, 1.0))
    for view, rate, share in blocks:
        head = (
            view.view,
            str(view.requests),
            f"{share:.0%}",
            f"{view.wall_ms:.1f}",
            f"{view.db_ms:.1f}",
            f"{view.cpu_ms:.1f}" + ("" if view.cpu_measured else " (wall − DB)"),
        )
        for index, figure in enumerate(model.figures(view, rate=rate)):
            cells = (
                *(head if index == 0 else ("",) * len(head)),
                _UNITS[figure.name],
                f"{figure.value:.2f} {figure.unit}",
                figure.basis,
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        total = rate if view is mix else None
        for warning in model.warnings(view, total_rate=total):
            lines.append(f"| | | | | | | **warning** | | {_cell(warning)} |")
    return "\n".join(lines)

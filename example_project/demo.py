#!/usr/bin/env python
"""Make a throwaway git repository to demonstrate ``perfaudit compare``.

    python example_project/demo.py [DEST]

``DEST`` (default: a new temporary folder) becomes a git repository holding
a copy of this example project, as a team's repository would:

* ``main``: the endpoints as they drifted into trouble (182 queries for one
  page of the event list);
* ``fix-event-list``: three commits on top, one lever each, as three small
  pull requests would be: load related rows in bulk (the N+1), filter by tag
  with ``Exists`` (the ``COUNT`` over ``DISTINCT``), count attendees with a
  correlated subquery (the forced ``GROUP BY``).

The fixed code is taken from ``events/views_fixed.py`` and
``events/serializers_fixed.py``, function by function; at the end of the
branch ``views.py`` and ``serializers.py`` are exactly those files, which the
script checks. Commit dates are fixed, so the commit ids are the same on
every run. The script prints the commands to try.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = HERE / "events"
BRANCH = "fix-event-list"

#: Left out of the copy: the demo's repository holds one version of the code.
IGNORED = (
    "__pycache__",
    "*.pyc",
    "*.sqlite3",
    "views_fixed.py",
    "serializers_fixed.py",
    "demo.py",
    "large_run.py",
)

URLS_SWITCH = """\
# The one switch between the code as it drifted (views.py) and after the
# three fixes (views_fixed.py): EXAMPLE_VARIANT=fixed.
if settings.EXAMPLE_VARIANT == "fixed":
    from example_project.events import views_fixed as views
else:
    from example_project.events import views
"""


#: What ``views.py`` imports from django.db.models after the N+1 commit.
N_PLUS_ONE_IMPORTS = (
    "Aggregate", "Avg", "Count", "Func", "IntegerField", "OuterRef", "Prefetch", "QuerySet",
    "Subquery",
)  # fmt: skip


@dataclass
class Step:
    """One commit of the branch: functions taken from views_fixed.py, import edits."""

    message: str
    functions: list[str]
    imports: list[tuple[str, str]] = field(default_factory=list)
    serializers: bool = False


STEPS = [
    Step(
        "Event list: load related rows in bulk, counts as subqueries (N+1)\n\n"
        "select_related/prefetch_related for organizer, venue, tags, ticket types\n"
        "and the latest review; the serializers read annotations instead of\n"
        "running one COUNT per row.",
        functions=[
            "per_row",
            "count_per_row",
            "events_for_listing",
            "organizer_list",
            "my_tickets",
        ],
        imports=[
            (
                "from django.db.models import Count, Prefetch, QuerySet\n",
                "from typing import Any\n\n"
                "from django.db.models import (\n"
                + "".join(f"    {name},\n" for name in N_PLUS_ONE_IMPORTS)
                + ")\n",
            ),
            (
                "from example_project.events.models import Event, Organizer, Ticket, Venue\n",
                "from example_project.events.models import Event, Organizer, Review, Ticket,"
                " TicketType, Venue\n",
            ),
        ],
        serializers=True,
    ),
    Step(
        "Event list: filter by tag with Exists, no join + DISTINCT (COUNT over DISTINCT)\n\n"
        "The paginator counted a SELECT DISTINCT of every column over the\n"
        "many-to-many join; an EXISTS filter needs no DISTINCT.",
        functions=["filter_by_tag"],
        imports=[("    Count,\n    Func,\n", "    Count,\n    Exists,\n    Func,\n")],
    ),
    Step(
        "Event list: count attendees in a correlated subquery (forced GROUP BY)\n\n"
        'Count("tickets__attendee", distinct=True) joined every ticket and grouped\n'
        "the rows back; a per-row subquery counts only the page's events.",
        functions=["with_attendee_count"],
        imports=[
            (
                ")\nfrom django.http import",
                ")\nfrom django.db.models.functions import Coalesce\nfrom django.http import",
            )
        ],
    ),
]


def _functions(source: str) -> dict[str, tuple[int, int]]:
    """Top-level functions: name -> (first line of ``def``, last line), 1-based."""
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.end_lineno is not None:
            spans[node.name] = (node.lineno, node.end_lineno)
    return spans


def _take_functions(target: str, fixed: str, names: list[str]) -> str:
    fixed_lines = fixed.splitlines(keepends=True)
    fixed_spans = _functions(fixed)
    order = list(fixed_spans)
    for name in names:
        start, end = fixed_spans[name]
        new = "".join(fixed_lines[start - 1 : end])
        lines = target.splitlines(keepends=True)
        spans = _functions(target)
        if name in spans:
            old_start, old_end = spans[name]
            lines[old_start - 1 : old_end] = [new]
        else:  # a new function: before the one that follows it in the fixed module
            following = next(n for n in order[order.index(name) + 1 :] if n in spans)
            before = spans[following][0] - 1
            lines[before:before] = [new, "\n\n"]
        target = "".join(lines)
    return target


def _replace(text: str, old: str, new: str, where: str) -> str:
    if old not in text:
        raise SystemExit(f"demo.py is out of date: {old.strip()!r} not found in {where}.")
    return text.replace(old, new, 1)


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = dict(os.environ)
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    command = [
        "git",
        "-c",
        "user.name=perfaudit demo",
        "-c",
        "user.email=demo@example.invalid",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "core.hooksPath=/dev/null",
        *args,
    ]
    done = subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _commit(repo: Path, message: str, day: int) -> str:
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", message, date=f"2025-03-0{day}T12:00:00+00:00")
    return _git(repo, "rev-parse", "--short", "HEAD")


def build(dest: Path) -> dict[str, str]:
    """Create the demo repository in ``dest``; return ``{ref: short commit id}``."""
    project = dest / "example_project"
    shutil.copytree(HERE, project, ignore=shutil.ignore_patterns(*IGNORED))
    (dest / ".gitignore").write_text("__pycache__/\n*.pyc\n*.sqlite3\n", encoding="utf-8")
    urls = project / "events" / "urls.py"
    text = _replace(urls.read_text(encoding="utf-8"), URLS_SWITCH, "", "events/urls.py")
    text = _replace(text, "from django.conf import settings\n", "", "events/urls.py")
    text = _replace(
        text,
        "from django.urls import path\n",
        "from django.urls import path\n\nfrom example_project.events import views\n",
        "events/urls.py",
    )
    urls.write_text(re.sub(r"\n{3,}app_name", "\n\napp_name", text), encoding="utf-8")

    _git(dest, "-c", "init.defaultBranch=main", "init", "--quiet")
    commits = {"main": _commit(dest, "Events platform: events, organizers, tickets, venues", 1)}
    _git(dest, "checkout", "--quiet", "-b", BRANCH)

    views_path = project / "events" / "views.py"
    fixed_views = (EVENTS / "views_fixed.py").read_text(encoding="utf-8")
    fixed_serializers = (EVENTS / "serializers_fixed.py").read_text(encoding="utf-8")
    for number, step in enumerate(STEPS, 1):
        views = views_path.read_text(encoding="utf-8")
        for old, new in step.imports:
            views = _replace(views, old, new, "events/views.py")
        views = _take_functions(views, fixed_views, step.functions)
        compile(views, str(views_path), "exec")
        views_path.write_text(views, encoding="utf-8")
        if step.serializers:
            (project / "events" / "serializers.py").write_text(fixed_serializers, encoding="utf-8")
        ref = BRANCH if number == len(STEPS) else f"{BRANCH}~{len(STEPS) - number}"
        commits[ref] = _commit(dest, step.message, number + 1)

    expected = fixed_views.replace("events.serializers_fixed import", "events.serializers import")
    if views_path.read_text(encoding="utf-8") != expected:
        raise SystemExit(
            "demo.py is out of date: after its commits events/views.py differs from "
            "views_fixed.py; update STEPS."
        )
    _git(dest, "checkout", "--quiet", "main")
    return commits


def _print_try(dest: Path, python: str) -> None:
    print("\nTry:")
    print(f"  cd {dest}")
    print(f"  git log -p main..{BRANCH}")
    print(f"  {python} example_project/manage.py perfaudit audit --scenario event-list")
    print(f"  {python} example_project/manage.py perfaudit compare main {BRANCH}")
    print(f"  {python} example_project/manage.py perfaudit compare main {BRANCH}~2")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", nargs="?", help="an empty or missing folder (default: a temp one)")
    parser.add_argument(
        "--compare",
        nargs=argparse.REMAINDER,
        metavar="OPTION",
        help="then run `perfaudit compare main fix-event-list` in it, with these extra "
        "options (e.g. --compare --format markdown), and remove the repository afterwards "
        "unless DEST was given",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help="the case study's table at production-like scale on PostgreSQL: seed and time a "
        "real database, then one compare per lever (see docs/case-study.md)",
    )
    parser.add_argument(
        "--size",
        default="large",
        help="with --large: the data set of events/bulk.py (ci, medium, large; default large)",
    )
    parser.add_argument(
        "--rounds", type=int, default=7, help="with --large: rounds per compare (default 7)"
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="with --large: keep the seeded real database (DATABASE_URL) afterwards",
    )
    args = parser.parse_args(argv)
    if args.dest:
        dest = Path(args.dest).resolve()
        if dest.exists() and any(dest.iterdir()):
            parser.error(f"{dest} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
    else:
        dest = Path(tempfile.mkdtemp(prefix="perfaudit-demo-"))
    commits = build(dest)
    python = sys.executable
    log = _git(dest, "log", "--oneline", "--reverse", f"main..{BRANCH}")
    print(f"Demo repository: {dest} (checked out: main)")
    print(f"  main            {commits['main']}  the endpoints as they drifted into trouble")
    print(f"  {BRANCH}  three commits, one lever each:")
    for line in log.splitlines():
        print(f"      {line}")
    removed_afterwards = (args.compare is not None or args.large) and not args.dest
    if removed_afterwards:
        print(f"\n{dest} is removed after the compare; pass a DEST folder to keep it.")
    else:
        _print_try(dest, python)
    if args.large:
        import large_run

        try:
            large_run.run(dest, BRANCH, size=args.size, rounds=args.rounds, keep_db=args.keep_db)
        finally:
            if not args.dest:
                shutil.rmtree(dest, ignore_errors=True)
        return
    if args.compare is None:
        print(f"\nRemove it afterwards: rm -rf {dest}")
        return
    print(f"\nRunning: perfaudit compare main {BRANCH} {' '.join(args.compare)}", flush=True)
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    try:
        result = subprocess.run(
            [
                python,
                "example_project/manage.py",
                "perfaudit",
                "compare",
                "main",
                BRANCH,
                *args.compare,
            ],
            cwd=dest,
            env=env,
            check=False,
        )
    finally:
        if not args.dest:
            shutil.rmtree(dest, ignore_errors=True)
    raise SystemExit(result.returncode)


if __name__ == "__main__":
    main()

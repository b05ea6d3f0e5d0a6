"""``demo.py --large``: the case study's table, at production-like scale on PostgreSQL.

Run by ``example_project/demo.py --large`` (see docs/case-study.md):

1. a real database (``DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/perfaudit_large``) is created,
   migrated and seeded with ``seed --size SIZE``, timed; then ``manage.py
   case_study --explain`` prints the event list at each lever: query times,
   perfaudit's own cost and share, the payload hash, the plans;
2. in the demo repository, ``perfaudit compare`` runs once per lever (``main``
   → ``fix-event-list~2`` → ``~1`` → ``fix-event-list``), on the
   ``event-list`` scenario with ``EXAMPLE_SIZE=SIZE``: each child builds the
   same data set in its own test database;
3. the per-lever table: queries, the time of the query the lever targets and
   of the whole request, each with compare's verdict, the payload identity,
   next to the case study's figures.

compare reports per request; the time of one query comes from the example
project's ``querylog.py`` middleware, which keeps the recording compare's
child makes of each request and writes every query's duration at exit.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/perfaudit_large"


@dataclass(frozen=True)
class Lever:
    name: str
    base: str
    head: str
    target: str  # "related", "count" or "page"
    target_label: str
    case_study: str


def levers(branch: str) -> list[Lever]:
    return [
        Lever(
            "N+1 (serializer)",
            "main",
            f"{branch}~2",
            "related",
            "the per-row queries",
            "179 → 15 queries, payload identical",
        ),
        Lever(
            "COUNT over DISTINCT",
            f"{branch}~2",
            f"{branch}~1",
            "count",
            "the paginator COUNT",
            "~639 → ~1.5 ms (~400×), same value",
        ),
        Lever(
            "forced GROUP BY",
            f"{branch}~1",
            branch,
            "page",
            "the page query",
            "view ~1590 → ~174 ms (~9×)",
        ),
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "EXAMPLE_VARIANT")
    }
    env.update(extra)
    return env


def _psql_admin(url: str, statement: str) -> None:
    import psycopg

    parts = urlsplit(url)
    conninfo = psycopg.conninfo.make_conninfo(
        host=parts.hostname or "127.0.0.1",
        port=str(parts.port or 5432),
        user=parts.username or "postgres",
        password=parts.password or "",
        dbname="postgres",
    )
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(statement)


def _run(command: list[str], *, env: dict[str, str], cwd: Path) -> str:
    print("$ " + " ".join(command[1:] if command[0] == sys.executable else command), flush=True)
    done = subprocess.run(
        command, env=env, cwd=cwd, check=False, stdout=subprocess.PIPE, text=True
    )
    if done.returncode not in (0, 1):  # compare exits 1 on a regression it reports
        raise SystemExit(f"{command[2:5]} failed with status {done.returncode}")
    return done.stdout


def real_database(url: str, size: str, *, keep: bool) -> tuple[float, str, str]:
    """Create, migrate and seed ``url``; return (seconds, seed output, case_study output)."""
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("perfaudit_large"):
        raise SystemExit(f"refusing to create and drop {name!r}: use a perfaudit_large* name")
    env = _env(DATABASE_URL=url)
    manage = [sys.executable, str(HERE / "manage.py")]
    _psql_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql_admin(url, f'CREATE DATABASE "{name}"')
    try:
        _run([*manage, "migrate", "--verbosity", "0"], env=env, cwd=HERE)
        started = time.perf_counter()
        seeded = _run([*manage, "seed", "--size", size], env=env, cwd=HERE)
        seconds = time.perf_counter() - started
        print(seeded, flush=True)
        study = _run([*manage, "case_study", "--explain"], env=env, cwd=HERE)
        print(study, flush=True)
    finally:
        if not keep:
            _psql_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return seconds, seeded.strip(), study


def _requests(folder: Path, side: str) -> list[list[tuple[str, float]]]:
    """The timed requests of one side (the warm-up round dropped): queries as (sql, ms)."""
    lines: list[str] = []
    for path in sorted(folder.glob(f"{side}-*.jsonl")):
        lines += path.read_text(encoding="utf-8").splitlines()
    requests = []
    for line in lines[1:]:
        queries = json.loads(line)["queries"]
        requests.append(
            [
                (sql, ms)
                for sql, ms in queries
                if not sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
            ]
        )
    return requests


def _part(queries: list[tuple[str, float]], target: str) -> float:
    if target == "count":
        sql, ms = queries[0]
        assert sql.startswith("SELECT COUNT(*)"), sql[:80]
        return ms
    if target == "page":
        return queries[1][1]
    return sum(ms for _, ms in queries[2:])


def _verdict(base: list[float], head: list[float]) -> Any:
    from perfaudit.compare.stats import verdict

    return verdict(base, head)


def _describe(v: dict[str, Any] | Any) -> str:
    if isinstance(v, dict):
        change, ratio, p = v["change"], v["ratio"], v["p_value"]
    else:
        change, ratio, p = v.change, v.ratio, v.p_value
    if change == "within noise":
        return f"within noise (p={p:.2g})"
    factor = 1 / ratio if ratio < 1 else ratio
    return f"{factor:.1f}× {change} (p={p:.2g})"


def compare_lever(repo: Path, lever: Lever, *, url: str, size: str, rounds: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="perfaudit-querylog-"))
    env = _env(DATABASE_URL=url, EXAMPLE_SIZE=size, EXAMPLE_QUERY_LOG=str(folder))
    command = [
        sys.executable,
        "example_project/manage.py",
        "perfaudit",
        "compare",
        lever.base,
        lever.head,
        "--scenario",
        "event-list",
        "--rounds",
        str(rounds),
        "--format",
        "json",
    ]
    started = time.perf_counter()
    report = json.loads(_run(command, env=env, cwd=repo))
    wall = time.perf_counter() - started
    sides = {side: _requests(folder, side) for side in ("base", "head")}
    parts = {
        side: {t: [_part(q, t) for q in requests] for t in ("count", "page", "related")}
        for side, requests in sides.items()
    }
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return {"report": report, "parts": parts, "wall": wall}


def _ms(values: list[float]) -> str:
    median = statistics.median(values)
    return f"{median:,.1f}" if median < 100 else f"{median:,.0f}"


def table(results: list[tuple[Lever, dict[str, Any]]]) -> str:
    lines = [
        "| lever | queries | targeted query | its time, ms | verdict | whole request, ms "
        "| verdict | payload | case study |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lever, result in results:
        endpoint = result["report"]["endpoints"][0]
        parts = result["parts"]
        target = {side: parts[side][lever.target] for side in ("base", "head")}
        total = endpoint["total_ms"]
        payload = endpoint["payload"]["result"]
        payload = "✅ identical" if payload == "identical" else f"❌ {payload}"
        lines.append(
            f"| {lever.name} (`{lever.base}` → `{lever.head}`) "
            f"| {endpoint['queries']['base']} → **{endpoint['queries']['head']}** "
            f"| {lever.target_label} "
            f"| {_ms(target['base'])} → {_ms(target['head'])} "
            f"| {_describe(_verdict(target['base'], target['head']))} "
            f"| {total['base']['median']:,.0f} → {total['head']['median']:,.0f} "
            f"| {_describe(endpoint['time'])} "
            f"| {payload} "
            f"| {lever.case_study} |"
        )
    lines += [
        "",
        "Each query of the event list, at each commit (medians of the timed rounds, ms):",
        "",
        "| commit | COUNT | page query | per-row / prefetch queries | whole request |",
        "| --- | --- | --- | --- | --- |",
    ]
    seen = []
    for lever, result in results:
        endpoint = result["report"]["endpoints"][0]
        for side, ref in (("base", lever.base), ("head", lever.head)):
            if ref in seen:
                continue
            seen.append(ref)
            parts = result["parts"][side]
            lines.append(
                f"| `{ref}` | {_ms(parts['count'])} | {_ms(parts['page'])} "
                f"| {_ms(parts['related'])} | {endpoint['total_ms'][side]['median']:,.0f} |"
            )
    return "\n".join(lines)


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpus} CPUs ({model or platform.machine()}), Python {platform.python_version()}"


def run(repo: Path, branch: str, *, size: str, rounds: int, keep_db: bool) -> None:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--large needs PostgreSQL: set DATABASE_URL=postgres://...")
    print(f"Machine: {machine()}", flush=True)
    seconds, seeded, _ = real_database(url, size, keep=keep_db)
    results = []
    for lever in levers(branch):
        print(f"\n== {lever.name}: compare {lever.base} {lever.head}", flush=True)
        result = compare_lever(repo, lever, url=url, size=size, rounds=rounds)
        report = result["report"]
        print(
            f"   set-up {report['setup_seconds']['base']:.0f} s / "
            f"{report['setup_seconds']['head']:.0f} s, rounds {report['rounds_seconds']:.0f} s, "
            f"wall {result['wall']:.0f} s",
            flush=True,
        )
        results.append((lever, result))
    print(f"\nData set ({size}), built with `seed --size {size}` in {seconds:.0f} s: {seeded}")
    print(f"{rounds} interleaved rounds per compare after a warm-up; {machine()}.\n")
    print(table(results))

"""The production-like data set and the case study's table (docs/case-study.md), on a slice.

``seed --size large`` (300,000 events, ~4.9M tickets) takes over a minute and
the full ``demo.py --large`` run about forty minutes, so CI builds the ``ci``
slice (10,000 events) of the same generator and runs the same pipeline on it:
the seed command, ``manage.py case_study --explain``, and ``demo.py --large``
with its three compares. Timings are not asserted (the docs page carries the
full run's); query counts, payload identity and the table's shape are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_audit import (
    POSTGRES,
    REPO,
    RealDatabase,
    _pg_conninfo,
    example_env,
    real_database,
    run_manage,
)

EXAMPLE = REPO / "example_project"


#: Run with the example project's settings (its models are not in the test settings).
GENERATOR_CHECK = """
import collections, hashlib, json, django
django.setup()
from example_project.events import bulk

def digest(events):
    rows = bulk._Rows(events, [1, 2])
    sha, counts, kept = hashlib.sha256(), {}, {}
    for model, generate in rows.tables():
        table = list(generate())
        for row in table:
            sha.update("\\t".join(map(bulk._text, row)).encode())
        counts[bulk._name(model)] = len(table)
        kept[bulk._name(model)] = table
    return rows, counts, sha.hexdigest(), kept

rows, counts, first, kept = digest(3000)
_, _, second, _ = digest(3000)
tags = collections.Counter(tag for _, _, tag in kept["event_tags"])
organizers = collections.Counter(event[3] for event in kept["events"])
print(json.dumps({
    "counts": counts, "same": first == second, "jazz": tags[1], "last_tag": tags[40],
    "top_organizer": max(organizers.values()), "organizers": len(organizers),
    "max_tickets": max(rows.tickets_per_event),
}))
"""


def test_generator_is_deterministic_and_skewed() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EXAMPLE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DATABASE_URL="sqlite://:memory:",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-c", GENERATOR_CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["same"] is True
    counts = found["counts"]
    assert counts["events"] == 3000
    assert counts["ticket_types"] == 9000
    assert 30_000 < counts["tickets"] < 80_000
    # Zipf: jazz (tag 1) on about 45 % of the events, the 40th tag on a few.
    assert 0.35 < found["jazz"] / 3000 < 0.55
    assert found["last_tag"] < found["jazz"] / 20
    assert found["top_organizer"] > 4 * 3000 / found["organizers"]
    assert found["max_tickets"] > 20 * counts["tickets"] / 3000


@pytest.fixture
def large_database(tmp_path: Path) -> Iterator[RealDatabase]:
    database = real_database(tmp_path, "large")
    if POSTGRES:
        import psycopg

        with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database.name}"')
    yield database
    if POSTGRES:
        import psycopg

        with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def test_seed_events_same_rows_on_every_database(large_database: RealDatabase) -> None:
    """COPY on PostgreSQL, bulk_create on SQLite: the same rows, ids included."""
    env = example_env(large_database)
    assert run_manage("migrate", "--verbosity", "0", env=env).returncode == 0
    done = run_manage("seed", "--events", "300", env=env)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"Seeded 2 users, 40 tags, 8 organizers, 6 venues, 200 attendees, 300 events, "
        r"\d+ event_tags, 900 ticket_types, \d+ tickets, \d+ reviews in [\d.]+ s\.",
        done.stdout.strip(),
    ), done.stdout
    again = run_manage("seed", "--size", "ci", "--events", "20", env=env)
    assert again.returncode == 1
    assert "Give --size or --events, not both." in again.stderr


@pytest.mark.skipif(not POSTGRES, reason="the case study's table is measured on PostgreSQL")
@pytest.mark.skipif(shutil.which("git") is None, reason="the demo needs git")
def test_case_study_pipeline_on_the_ci_slice(tmp_path: Path) -> None:
    """``demo.py --large --size ci``: seed, case_study --explain, three compares, the table."""
    base = os.environ.get("PERFAUDIT_PG_DB", "perfaudit")
    database = real_database(tmp_path, "cs")
    url = database.url.replace(f"/{base}_", "/perfaudit_large_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EXAMPLE_"))}
    env.update(DATABASE_URL=url, PYTHONPATH="")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py"), "--large", "--size", "ci", "--rounds", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "10,000 events" in out
    assert "payload: identical at every state" in out
    states = re.findall(r"^(\d) .{18}\s+(\d+)\s", out, flags=re.MULTILINE)
    assert [int(q) for _, q in states] == [179, 7, 7, 7]
    assert out.count("Execution Time:") == 8  # COUNT and page query at four states
    lever_rows = [line for line in out.splitlines() if re.match(r"\| (N\+1|COUNT|forced)", line)]
    assert len(lever_rows) == 3, out
    assert "179 → **7**" in lever_rows[0]
    assert all("✅ identical" in line for line in lever_rows)
    name = url.rsplit("/", 1)[1]
    assert [n for n in _databases() if n.startswith((name, f"test_{name}"))] == []


def _databases() -> list[str]:
    import psycopg

    with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
        names = connection.execute("SELECT datname FROM pg_database").fetchall()
    return [name for (name,) in names]

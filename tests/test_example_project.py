"""The example project: settings, ``manage.py`` from its folder, the seed command, the demo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.test_audit import (
    MANAGE,
    POSTGRES,
    REPO,
    RealDatabase,
    _pg_conninfo,
    example_env,
    real_database,
    run_manage,
)

EXAMPLE = REPO / "example_project"


def test_database_url_parsing() -> None:
    from example_project.settings import BASE_DIR, database_from_url

    assert database_from_url(None) == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
    assert database_from_url("postgres://app:p%40ss@db.internal:5433/events") == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "events",
        "USER": "app",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "5433",
    }
    assert database_from_url("postgresql://postgres@127.0.0.1/x")["PORT"] == ""
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    assert database_from_url("sqlite:///db.sqlite3")["NAME"] == "db.sqlite3"
    assert database_from_url("sqlite://:memory:")["NAME"] == ":memory:"
    with pytest.raises(ImproperlyConfigured, match="must start with postgres:// or sqlite://"):
        database_from_url("mysql://root@localhost/x")
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        database_from_url("postgres://root@localhost/")


@pytest.fixture
def seeded_database(tmp_path: Path) -> Iterator[RealDatabase]:
    """A real (not test) database for the seed command, dropped afterwards."""
    database = real_database(tmp_path, "seed")
    if POSTGRES:
        import psycopg

        with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database.name}"')
    yield database
    if POSTGRES:
        import psycopg

        with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def test_manage_py_runs_from_its_folder_check_migrate_seed(
    seeded_database: RealDatabase,
) -> None:
    env = example_env(seeded_database)
    del env["DJANGO_SETTINGS_MODULE"]  # manage.py sets it
    env["PYTHONPATH"] = ""  # manage.py puts the project's parent on the path

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return run_manage(*args, env=env, cwd=EXAMPLE)

    done = run_manage(
        "check", "--fail-level", "WARNING", env={**env, "EXAMPLE_VARIANT": "fixed"}, cwd=EXAMPLE
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert manage("migrate", "--verbosity", "0").returncode == 0
    done = manage("seed")
    assert done.returncode == 0, done.stderr
    expected = (
        "Seeded 2 users, 8 organizers, 6 venues, 8 tags, 120 attendees, 60 events, "
        "180 ticket_types, 1007 tickets, 193 reviews."
    )
    assert done.stdout.strip() == expected
    again = manage("seed")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "CommandError: The database already has events; run `manage.py seed --flush` to "
        "replace them."
    )
    flushed = manage("seed", "--flush")
    assert flushed.returncode == 0, flushed.stderr
    assert flushed.stdout.strip() == expected


AUDIT_EVENT_LIST = ("perfaudit", "audit", "--format", "json", "--scenario", "event-list")


def _audit_event_list(repo: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "example_project/manage.py", *AUDIT_EVENT_LIST],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    request: dict[str, Any] = json.loads(done.stdout)["scenarios"][0]["requests"][0]
    return request


@pytest.mark.skipif(shutil.which("git") is None, reason="the demo needs git")
def test_demo_repository_one_lever_per_commit(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py"), str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Demo repository: {dest} (checked out: main)" in done.stdout
    assert "perfaudit compare main fix-event-list" in done.stdout

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=dest, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert git("branch", "--show-current") == "main"
    subjects = git("log", "--format=%s", "--reverse", "main..fix-event-list").splitlines()
    assert len(subjects) == 3
    assert subjects[0].endswith("(N+1)")
    assert subjects[1].endswith("(COUNT over DISTINCT)")
    assert subjects[2].endswith("(forced GROUP BY)")
    assert not (dest / "example_project" / "events" / "views_fixed.py").exists()
    # Small diffs: one lever per commit.
    assert git("diff", "--name-only", "fix-event-list~1", "fix-event-list") == (
        "example_project/events/views.py"
    )
    git("checkout", "--quiet", "fix-event-list")
    events = dest / "example_project" / "events"
    assert (events / "serializers.py").read_text() == (
        (EXAMPLE / "events" / "serializers_fixed.py").read_text()
    )
    assert (events / "views.py").read_text() == (
        (EXAMPLE / "events" / "views_fixed.py")
        .read_text()
        .replace("events.serializers_fixed import", "events.serializers import")
    )

    database = real_database(tmp_path, "demo_db")
    env = example_env(database)
    env["PYTHONPATH"] = ""  # the demo's own code, never this checkout's
    # main is the slow variant and the branch's tip the fixed one, both audited
    # in test_audit.py; here each lever's commit is audited on its own.
    by_ref = {}
    for ref in ("fix-event-list~2", "fix-event-list~1"):
        git("checkout", "--quiet", ref)
        by_ref[ref] = _audit_event_list(dest, env)
    kinds = {ref: Counter(f["kind"] for f in r["findings"]) for ref, r in by_ref.items()}
    assert by_ref["fix-event-list~2"]["queries"] <= 15  # the N+1 is gone
    assert kinds["fix-event-list~2"] == {"count_distinct": 1, "forced_group_by": 1}
    assert kinds["fix-event-list~1"] == {"forced_group_by": 1}
    assert by_ref["fix-event-list~2"]["payload"] == by_ref["fix-event-list~1"]["payload"]
    assert database.traces() == []
    assert MANAGE.exists()


def test_demo_compare_in_a_temp_folder_does_not_suggest_commands_in_it() -> None:
    """The temp repository is removed after --compare: no "Try: cd <it>"."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py"), "--compare", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0  # compare rejects the option
    assert "Try:" not in result.stdout
    (line,) = [
        line for line in result.stdout.splitlines() if "is removed after the compare" in line
    ]
    folder = Path(line.split(" is removed", 1)[0])
    assert folder.name.startswith("perfaudit-demo-")
    assert not folder.exists()

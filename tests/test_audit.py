"""``manage.py perfaudit audit``: end to end on the example project, and the runner in-process.

The end-to-end tests run the command as a subprocess with
``DJANGO_SETTINGS_MODULE=example_project.settings``: on SQLite with a
``DATABASE_URL`` naming a file that must never be created, on PostgreSQL
(``PERFAUDIT_TEST_DB=postgres``) with a database name unique to this run that
must never exist, nor any test database left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.core.management.color import no_style

from perfaudit import scenarios
from perfaudit.audit import engine as _audit
from perfaudit.audit.formats import render
from perfaudit.scenarios import Registry, Request

REPO = Path(__file__).resolve().parent.parent
MANAGE = REPO / "example_project" / "manage.py"
POSTGRES = os.environ.get("PERFAUDIT_TEST_DB", "sqlite") == "postgres"


# -- running the example project ----------------------------------------------


@dataclass
class RealDatabase:
    """The database the example project is configured with: audit must not touch it."""

    url: str
    name: str
    path: Path | None = None

    def traces(self) -> list[str]:
        """The real database, and any test database named after it, that exist."""
        if self.path is not None:
            return [p.name for p in self.path.parent.glob(f"{self.path.stem}*")]
        import psycopg

        with psycopg.connect(_pg_conninfo("postgres"), autocommit=True) as connection:
            rows = connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%{self.name}%"]
            ).fetchall()
        return sorted(row[0] for row in rows)


def _pg_conninfo(dbname: str) -> str:
    return (
        f"host={os.environ.get('PERFAUDIT_PG_HOST', '127.0.0.1')} "
        f"port={os.environ.get('PERFAUDIT_PG_PORT', '5432')} "
        f"user={os.environ.get('PERFAUDIT_PG_USER', 'postgres')} "
        f"password={os.environ.get('PERFAUDIT_PG_PASSWORD', '')} dbname={dbname}"
    )


def real_database(folder: Path, label: str) -> RealDatabase:
    """A configured-but-never-created database for one test (module)."""
    if not POSTGRES:
        path = folder / f"{label}.sqlite3"
        return RealDatabase(f"sqlite:///{path}", path.stem, path)
    base = os.environ.get("PERFAUDIT_PG_DB", "perfaudit")
    name = f"{base}_ex{os.getpid()}_{label}"
    user = os.environ.get("PERFAUDIT_PG_USER", "postgres")
    password = os.environ.get("PERFAUDIT_PG_PASSWORD", "")
    credentials = f"{user}:{password}" if password else user
    host = os.environ.get("PERFAUDIT_PG_HOST", "127.0.0.1")
    port = os.environ.get("PERFAUDIT_PG_PORT", "5432")
    return RealDatabase(f"postgres://{credentials}@{host}:{port}/{name}", name)


def example_env(database: RealDatabase, *, variant: str = "slow", **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EXAMPLE_", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DATABASE_URL=database.url,
        EXAMPLE_VARIANT=variant,
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.update(extra)
    return env


def run_manage(
    *args: str, env: dict[str, str], cwd: Path = REPO, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def audit_json(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = run_manage("perfaudit", "audit", "--format", "json", *args, env=env)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def requests_by_scenario(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["requests"][0] for s in report["scenarios"]}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealDatabase]:
    db = real_database(tmp_path_factory.mktemp("example"), "audit")
    assert db.traces() == []
    yield db
    assert db.traces() == [], "audit created or left behind a database"


@pytest.fixture(scope="module")
def slow(database: RealDatabase) -> dict[str, Any]:
    return audit_json(env=example_env(database))


@pytest.fixture(scope="module")
def fixed(database: RealDatabase) -> dict[str, Any]:
    return audit_json("--repeat", "2", env=example_env(database, variant="fixed"))


# -- end to end ---------------------------------------------------------------


def test_slow_event_list_has_the_three_problems(slow: dict[str, Any]) -> None:
    assert slow["ok"] is True
    event_list = requests_by_scenario(slow)["event-list"]
    assert event_list["status"] == 200
    assert event_list["view"] == "events:event-list"
    assert 150 <= event_list["queries"] <= 220  # measured: 182
    findings = event_list["findings"]
    n_plus_one = {f["relation"]: f for f in findings if f["kind"] == "n_plus_one"}
    assert n_plus_one["Event.organizer"]["fix"] == 'select_related("organizer")'
    assert n_plus_one["Event.organizer"]["count"] == 10
    assert (
        "`Event.organizer` is loaded one row at a time"
        in (n_plus_one["Event.organizer"]["suggestion"])
    )
    assert n_plus_one["Event.tags"]["fix"] == 'prefetch_related("tags")'
    # `get_sold` and `get_available` both count the tickets: one finding, two call sites.
    assert n_plus_one["TicketType.tickets"]["count"] == 60
    assert len(n_plus_one["TicketType.tickets"]["callsites"]) == 2
    (count_distinct,) = [f for f in findings if f["kind"] == "count_distinct"]
    # The Exists() pattern is in the sentence; with its `...` it is no code to run.
    assert count_distinct["fix"] is None
    assert "`Exists(Event.tags.through.objects.filter(" in count_distinct["suggestion"]
    (group_by,) = [f for f in findings if f["kind"] == "forced_group_by"]
    assert 'Count("attendee", distinct=True)' in group_by["fix"]
    assert group_by["model"] == "events.Event"


def test_fixed_variant_same_payloads_far_fewer_queries(
    slow: dict[str, Any], fixed: dict[str, Any]
) -> None:
    before, after = requests_by_scenario(slow), requests_by_scenario(fixed)
    assert (
        list(before)
        == list(after)
        == [
            "event-list",
            "event-detail",
            "event-availability",
            "organizer-list",
            "my-tickets",
            "venue-page",
        ]
    )
    for name in before:
        assert after[name]["status"] == before[name]["status"] == 200, name
        assert after[name]["payload"]["hash"] == before[name]["payload"]["hash"], name
        assert after[name]["findings"] == [], name
        assert after[name]["queries"] <= before[name]["queries"], name
    assert after["event-list"]["queries"] <= 15  # measured: 7
    assert before["event-detail"]["queries"] > after["event-detail"]["queries"]
    # Beside SQL: the partner call and the repeated cache read, gone once fixed.
    availability = before["event-availability"]
    assert [f["kind"] for f in availability["findings"]] == ["external_call", "cache_repeat"]
    assert availability["http"]["calls"] == 1
    assert availability["http_ms"] >= 40  # the partner's latency
    assert after["event-availability"]["http"]["calls"] == 0
    assert after["event-availability"]["cache"]["calls"] == 2
    # The my-tickets request logs in as alice: her four tickets, not an empty list.
    assert before["my-tickets"]["findings"][0]["count"] == 4


def test_report_document(slow: dict[str, Any], fixed: dict[str, Any]) -> None:
    assert slow["format"] == 1
    assert slow["command"] == "audit"
    assert slow["database"] == ("postgresql" if POSTGRES else "sqlite")
    assert slow["summary"]["scenarios"] == 6
    assert slow["summary"]["requests"] == 6
    assert slow["failures"] == []
    by_name = requests_by_scenario(slow)
    assert by_name["my-tickets"]["name"] == "GET /api/me/tickets/ (as alice)"
    assert by_name["event-detail"]["path"].startswith("/api/events/")
    assert "{" not in by_name["event-detail"]["path"]
    assert by_name["venue-page"]["payload"]["kind"] == "bytes"  # HTML
    assert by_name["event-list"]["payload"]["kind"] == "json"
    assert by_name["event-list"]["payload"]["hash"].startswith("sha256:")
    for request in by_name.values():
        assert request["db_ms"] >= 0
        assert request["total_ms"] >= request["db_ms"]
        assert request["runs"] == 1
    # --repeat 2: every GET twice, the same queries both times.
    for request in requests_by_scenario(fixed).values():
        assert request["runs"] == 2
        assert len(set(request["query_counts"])) == 1
        assert len(request["total_ms_runs"]) == 2


def test_text_report_and_fail_on_gate(database: RealDatabase) -> None:
    done = run_manage(
        "perfaudit",
        "audit",
        "--scenario",
        "event-list",
        "--fail-on",
        "count_distinct,forced_group_by",
        env=example_env(database),
    )
    assert done.returncode == 3, done.stderr
    assert "scenario    request" in done.stdout
    assert "event-list  GET /api/events/?tag=jazz" in done.stdout
    assert 'add `select_related("organizer")`' in done.stdout
    assert "fix:" not in done.stdout  # the prose names the fix once
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "CommandError: --fail-on count_distinct,forced_group_by: "
        "event-list GET /api/events/?tag=jazz: "
    )
    assert "(and 1 more)" in lines[0]


def test_markdown_report(database: RealDatabase) -> None:
    done = run_manage(
        "perfaudit",
        "audit",
        "--format",
        "markdown",
        "--scenario",
        "organizer-list",
        "--scenario",
        "venue-page",
        "--fail-on",
        "forced_group_by",
        env=example_env(database),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("### perfaudit audit\n")
    assert "| scenario | request | status | queries |" in out
    assert "| organizer-list | `GET /api/organizers/` | 200 | 10 |" in out
    assert "| venue-page | `GET /venues/` | 200 | 2 |" in out
    assert (
        ", 8 queries) `Organizer.events`. Fix: `annotate(events_count=Coalesce(Subquery("
        'Event.objects.filter(organizer=OuterRef("pk"))'
    ) in out


@pytest.fixture
def listed_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> Iterator[str]:
    """A scenario module in PERFAUDIT["SCENARIOS"] (for the in-process command tests)."""
    module = "pa_audit_cli_scenarios"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from perfaudit.scenarios import Request, scenario

            @scenario("pa-cli-home", requests=[Request("GET", "/{page}/", status=404)])
            def home():
                return {"page": "x"}
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.PERFAUDIT = {"SCENARIOS": [module]}
    yield module
    sys.modules.pop(module, None)
    scenarios.registry.remove("pa-cli-home")


def test_usage_errors_exit_2(listed_scenarios: str, settings: Any) -> None:
    with pytest.raises(CommandError) as info:
        call_command("perfaudit", "audit", "--scenario", "pa-cli-hom")
    assert info.value.returncode == 2
    assert str(info.value) == (
        "--scenario: no scenario is called 'pa-cli-hom'; known scenarios: pa-cli-home."
    )
    with pytest.raises(CommandError, match=r"--fail-on: unknown kind 'n\+1'") as info:
        call_command("perfaudit", "audit", "--fail-on", "n_plus_one,n+1")
    assert info.value.returncode == 2
    out = StringIO()
    call_command("perfaudit", "audit", "--list", stdout=out)
    assert out.getvalue().splitlines() == [
        f"pa-cli-home  ({listed_scenarios}.home)",
        "  GET /{page}/  [expects 404]",
    ]
    settings.PERFAUDIT = {"SCENARIOS": []}
    with pytest.raises(CommandError, match="No scenarios to run") as info:
        call_command("perfaudit", "audit")
    assert info.value.returncode == 2
    settings.PERFAUDIT = {"SCENARIOS": ["no.such.module_for_perfaudit"]}
    with pytest.raises(CommandError, match="cannot be imported") as info:
        call_command("perfaudit", "audit")
    assert info.value.returncode == 2


BROKEN_SCENARIOS = """
import os
import time
from io import StringIO
from pathlib import Path

from django.contrib.auth.models import User
from perfaudit.scenarios import Request, scenario


@scenario("fine", requests=["/venues/"])
def fine():
    User.objects.create(username="carol")


@scenario("missing-event", requests=[Request("GET", "/api/events/{slug}/")])
def missing_event():
    return {"slug": "no-such-event"}


@scenario("crashing-setup", requests=["/venues/"])
def crashing_setup():
    raise RuntimeError("the factory needs a venue")


@scenario("unknown-user", requests=[Request("GET", "/api/me/tickets/", user="alice")])
def unknown_user():
    pass


@scenario("interruptible", requests=["/venues/"])
def interruptible():
    Path(os.environ["PA_EX_MARKER"]).write_text("ready")
    time.sleep(60)
"""


@pytest.fixture
def broken_env(tmp_path: Path, database: RealDatabase) -> dict[str, str]:
    (tmp_path / "pa_ex_broken_scenarios.py").write_text(BROKEN_SCENARIOS, encoding="utf-8")
    (tmp_path / "pa_ex_broken_settings.py").write_text(
        textwrap.dedent(
            """
            from example_project.settings import *  # noqa: F403

            PERFAUDIT = {"SCENARIOS": ["pa_ex_broken_scenarios"]}
            """
        ),
        encoding="utf-8",
    )
    env = example_env(database, DJANGO_SETTINGS_MODULE="pa_ex_broken_settings")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    env["PA_EX_MARKER"] = str(tmp_path / "marker")
    return env


def test_failing_scenarios_exit_1_with_one_line(broken_env: dict[str, str]) -> None:
    done = run_manage(
        "perfaudit",
        "audit",
        "--format",
        "json",
        *("--scenario", "fine", "--scenario", "missing-event"),
        *("--scenario", "crashing-setup", "--scenario", "unknown-user"),
        env=broken_env,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "CommandError: scenario 'missing-event', GET /api/events/no-such-event/: expected a "
        "status below 400, got 404; fix the view or the scenario's data, or declare "
        "status=404 on the Request if that is intended. (and 2 more failures, see the report)"
    ]
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [s["ok"] for s in report["scenarios"]] == [True, False, False, False]
    failures = report["failures"]
    assert len(failures) == 3
    assert failures[1].startswith(
        "scenario 'crashing-setup': set-up pa_ex_broken_scenarios.crashing_setup raised "
        "RuntimeError: the factory needs a venue (at "
    )
    assert failures[1].endswith("pa_ex_broken_scenarios.py:23); fix the set-up function.")
    assert failures[2].startswith(
        "scenario 'unknown-user', GET /api/me/tickets/ (as alice): logs in as 'alice', but "
        "the set-up created no such user"
    )


def test_ctrl_c_removes_the_test_database(
    broken_env: dict[str, str], database: RealDatabase
) -> None:
    marker = Path(broken_env["PA_EX_MARKER"])
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "perfaudit", "audit", "--scenario", "interruptible"],
        env=broken_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT
        # ignored, and Python keeps it ignored: restore the default here.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the set-up never started"
            time.sleep(0.05)
        if POSTGRES:  # the throwaway database exists while the scenario runs
            assert any(name.startswith("test_") for name in database.traces())
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "CommandError: Interrupted; the throwaway test databases were removed."
    )
    assert database.traces() == []


# -- the runner, in-process ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_runner_reports_each_failure_and_repeats_safe_methods() -> None:
    registry = Registry()

    @registry.scenario(
        "pages",
        requests=[
            Request("GET", "/perfaudit-missing/{code}/", status=404),
            Request("POST", "/perfaudit-missing/", data={"a": 1}, status=404),
            Request("GET", "/perfaudit-missing/", user="bob", status=404),
            Request("GET", "/perfaudit-missing/{nope}/", status=404),
            Request("GET", "/perfaudit-missing/"),
        ],
    )
    def pages() -> dict[str, str]:
        get_user_model().objects.create(username="alice")  # not bob
        return {"code": "abc"}

    @registry.scenario("list-returned", requests=["/"])
    def list_returned() -> list[int]:
        return [1]

    result = _audit.run(registry.all(), repeat=3, aliases=["default"])
    first, second = result.scenarios
    found, posted, unknown_user, placeholder, not_found = first.requests
    assert found.ok
    assert found.request.path == "/perfaudit-missing/abc/"
    assert found.status == 404
    assert len(found.query_counts) == 3  # GET: repeated
    assert found.queries == found.query_counts[0]
    assert posted.ok
    assert len(posted.query_counts) == 1  # POST: never repeated
    assert unknown_user.error is not None
    assert "logs in as 'bob', but the set-up created no such user" in unknown_user.error
    assert placeholder.error is not None
    assert "the path needs {nope}, which the set-up did not return" in placeholder.error
    assert not_found.error is not None
    assert "expected a status below 400, got 404" in not_found.error
    assert second.error is not None
    assert "returned list; return None, or a dict" in second.error
    assert len(result.failures()) == 4
    assert all("\n" not in line for line in result.failures())

    # One data set, three formats.
    document = json.loads(render(result, "json", no_style()))
    assert document["summary"] == {
        "scenarios": 2,
        "requests": 5,
        "failed": 4,
        "queries": document["summary"]["queries"],
        "findings": 0,
    }
    assert document["failures"] == result.failures()
    text = render(result, "text", no_style())
    assert "GET /perfaudit-missing/abc/" in text
    assert "FAILED scenario 'list-returned'" in text
    assert "0 scenarios ok, 2 failed" in text
    markdown = render(result, "markdown", no_style())
    assert "| list-returned | (set-up failed) |" in markdown
    assert "#### Failures" in markdown


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)

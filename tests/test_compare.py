"""``manage.py perfaudit compare`` end to end, on temporary git repositories.

Each test builds a small Django project in a fresh repository, commits
variants on branches, and runs the real command in a subprocess, on SQLite or
PostgreSQL like the rest of the suite (``PERFAUDIT_TEST_DB``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

POSTGRES = os.environ.get("PERFAUDIT_TEST_DB") == "postgres"

SETTINGS = """
import os
SECRET_KEY = "compare-tests"
USE_TZ = True
ROOT_URLCONF = "miniproj.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "perfaudit", "shop"]
PERFAUDIT = {"SCENARIOS": ["shop.scenarios"]}
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
if os.environ.get("PERFAUDIT_TEST_DB") == "postgres":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "USER": "postgres",
        "NAME": os.environ["MINI_DB_NAME"],
    }}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": os.path.join(os.path.dirname(__file__), "real.sqlite3")}}
"""

MANAGE = """
import os, sys
if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniproj.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""

MODELS = """
from django.db import models

class Author(models.Model):
    name = models.CharField(max_length=50)

class Book(models.Model):
    title = models.CharField(max_length=50)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
"""

MIGRATION = """
from django.db import migrations, models

class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel("Author", [
            ("id", models.AutoField(primary_key=True)),
            ("name", models.CharField(max_length=50)),
        ]),
        migrations.CreateModel("Book", [
            ("id", models.AutoField(primary_key=True)),
            ("title", models.CharField(max_length=50)),
            ("author", models.ForeignKey(on_delete=models.CASCADE, to="shop.author")),
        ]),
    ]
"""

VIEWS = """
from django.http import JsonResponse
from shop.models import Book

def books(request):
    rows = Book.objects.order_by("id")
    return JsonResponse({"books": [{"title": b.title, "author": b.author.name} for b in rows]})
"""

SCENARIOS = """
from perfaudit.scenarios import scenario
from shop.models import Author, Book

@scenario("books", requests=["/books/"])
def books():
    for i in range(8):
        Book.objects.create(title=f"Book {i}", author=Author.objects.create(name=f"A{i}"))
"""

URLS = """
from django.urls import path
from shop.views import books
urlpatterns = [path("books/", books, name="books")]
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _commit(root: Path, branch: str, files: dict[str, str], message: str) -> None:
    _git(root, "checkout", "-q", "-B", branch, "main")
    _write(root, files)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    _git(root, "checkout", "-q", "main")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def make_project(tmp_path: Path) -> Path:
    """A repository with the slow book list on ``main`` and its fix on ``fast``."""
    root = tmp_path / "project"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "Dev")
    _write(
        root,
        {
            "manage.py": MANAGE,
            "miniproj/__init__.py": "",
            "miniproj/settings.py": SETTINGS,
            "miniproj/urls.py": URLS,
            "shop/__init__.py": "",
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": MIGRATION,
            "shop/views.py": VIEWS,
            "shop/scenarios.py": SCENARIOS,
            ".gitignore": "*.sqlite3\n__pycache__/\n",
        },
    )
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "slow book list")
    _commit(
        root,
        "fast",
        {
            "shop/views.py": VIEWS.replace(
                'order_by("id")', 'select_related("author").order_by("id")'
            )
        },
        "select_related the author",
    )
    return root


def _env(project: Path, db_name: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    env["MINI_DB_NAME"] = db_name
    return env


@pytest.fixture
def db_name() -> str:
    return unique_db_name()


def unique_db_name() -> str:
    return f"pa_cmp_{uuid.uuid4().hex[:8]}"


def _compare(project: Path, db_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "perfaudit", "compare", *args],
        cwd=project,
        env=_env(project, db_name),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _leftover_databases(db_name: str) -> list[str]:
    if not POSTGRES:
        return []
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-Atc",
            f"SELECT datname FROM pg_database WHERE datname LIKE 'test_{db_name}%'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def _worktrees(project: Path) -> list[str]:
    return [line for line in _git(project, "worktree", "list").splitlines() if line]


def _assert_clean(project: Path, db_name: str) -> None:
    assert len(_worktrees(project)) == 1, _worktrees(project)
    assert _leftover_databases(db_name) == []
    assert not (project / "real.sqlite3").exists()  # the real database is never touched


def test_query_reducing_change_is_proven_with_an_identical_payload(
    project: Path, db_name: str
) -> None:
    result = _compare(
        project, db_name, "main", "fast", "--rounds", "4", "--format", "json", "-v", "2"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == "compare"
    assert data["tool"].startswith("perfaudit ")
    assert data["format"] == 1
    (endpoint,) = data["endpoints"]
    assert endpoint["scenario"] == "books"
    assert endpoint["queries"] == {"base": 9, "head": 1}
    assert endpoint["payload"]["result"] == "identical"
    assert endpoint["payload"]["hashes"]["base"] == endpoint["payload"]["hashes"]["head"]
    assert [f["kind"] for f in endpoint["findings"]["removed"]] == ["n_plus_one"]
    assert endpoint["findings"]["added"] == []
    assert endpoint["total_ms"]["base"]["n"] == 4
    # Beside SQL: per-axis medians and their change; the middleware tax per side.
    assert endpoint["cpu_ms"]["base"]["n"] == 4
    assert endpoint["cpu_ms"]["change"] is not None
    assert endpoint["http_ms"]["base"]["median"] == 0
    for side in ("base", "head"):
        (common,) = endpoint["middleware"][side]
        assert common["name"] == "django.middleware.common.CommonMiddleware"
        assert common["ms"] > 0
    assert endpoint["regressions"] == []
    # Progress (asked for with -v 2, as stderr is not a terminal) counts the rounds.
    assert "[round 4/4] books" in result.stderr
    _assert_clean(project, db_name)

    markdown = _compare(project, db_name, "main", "fast", "--rounds", "2", "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert "| books: GET /books/ | 200 → 200 | 9 → **1** |" in markdown.stdout
    assert "✅ identical" in markdown.stdout
    assert "- books: GET /books/: CPU ms " in markdown.stdout
    assert "middleware " in markdown.stdout


def test_a_a_run_is_identical_and_within_noise(project: Path, db_name: str) -> None:
    result = _compare(project, db_name, "main", "main", "--rounds", "6", "--format", "json")
    assert result.returncode == 0, result.stderr
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert endpoint["payload"]["result"] == "identical"
    assert endpoint["queries"] == {"base": 9, "head": 9}
    assert endpoint["time"]["change"] == "within noise"
    assert endpoint["findings"]["added"] == endpoint["findings"]["removed"] == []


def test_payload_change_is_caught_with_its_path(project: Path, db_name: str) -> None:
    _commit(
        project,
        "shout",
        {"shop/views.py": VIEWS.replace('"title": b.title', '"title": b.title.upper()')},
        "upper-case titles",
    )
    result = _compare(project, db_name, "main", "shout", "--rounds", "2", "--format", "json")
    assert result.returncode == 1
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert endpoint["payload"]["result"] == "different"
    assert endpoint["payload"]["difference"] == {
        "path": "$.books[0].title",
        "base": "Book 0",
        "head": "BOOK 0",
        "count": 8,
    }
    assert "payload differs at $.books[0].title" in result.stderr
    _assert_clean(project, db_name)


def test_migration_only_on_head_is_applied_only_there(project: Path, db_name: str) -> None:
    _commit(
        project,
        "pages",
        {
            "shop/models.py": MODELS + "    pages = models.IntegerField(default=100)\n",
            "shop/migrations/0002_pages.py": """
                from django.db import migrations, models

                class Migration(migrations.Migration):
                    dependencies = [("shop", "0001_initial")]
                    operations = [
                        migrations.AddField("book", "pages", models.IntegerField(default=100)),
                    ]
            """,
            "shop/views.py": VIEWS.replace(
                'order_by("id")', 'select_related("author").filter(pages__gte=1).order_by("id")'
            ),
        },
        "add pages",
    )
    result = _compare(project, db_name, "main", "pages", "--rounds", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert endpoint["status"] == {"base": 200, "head": 200}
    assert endpoint["queries"] == {"base": 9, "head": 1}
    assert endpoint["payload"]["result"] == "identical"


def test_unknown_ref_exits_2_with_one_clear_line(project: Path, db_name: str) -> None:
    result = _compare(project, db_name, "main", "no-such-branch")
    assert result.returncode == 2
    assert "Unknown git ref 'no-such-branch'" in result.stderr
    assert result.stderr.count("\n") <= 2
    _assert_clean(project, db_name)

    dash = _compare(project, db_name, "main", "--", "--upload-pack=evil")
    assert dash.returncode == 2
    assert "cannot start with '-'" in dash.stderr


def test_child_crash_exits_2_and_cleans_up(project: Path, db_name: str) -> None:
    _commit(
        project,
        "broken",
        {
            "shop/scenarios.py": SCENARIOS.replace(
                "for i in range(8):", "raise RuntimeError('boom')\n    for i in range(8):"
            )
        },
        "break the scenario",
    )
    result = _compare(project, db_name, "main", "broken", "--rounds", "2")
    assert result.returncode == 2
    assert "The head child (broken @" in result.stderr
    assert "RuntimeError: boom" in result.stderr
    _assert_clean(project, db_name)
    _remove_kept_log(result.stderr)


def _remove_kept_log(stderr: str) -> None:
    """A failed child's log is kept for the user; the tests remove it."""
    found = re.search(r"Full log: (\S+)", stderr)
    assert found is not None, stderr
    shutil.rmtree(Path(found.group(1)).parent, ignore_errors=True)


def test_sigint_mid_run_leaves_nothing_behind(project: Path, db_name: str) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "perfaudit",
            "compare",
            "main",
            "fast",
            "--rounds",
            "100000",
            "-v",
            "2",  # progress lines on stderr, which is not a terminal here
        ],
        cwd=project,
        env=_env(project, db_name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT
        # ignored, and Python keeps it ignored: restore the default here.
        preexec_fn=_default_sigint,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while "round 2/" not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    assert "round 2/" in seen, seen
    assert len(_worktrees(project)) == 3
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Interrupted" in seen + rest
    _assert_clean(project, db_name)
    folders = re.search(r"worktrees in (\S+), child logs in (\S+)", seen)
    assert folders is not None, seen
    assert not Path(folders.group(1)).exists()
    assert not Path(folders.group(2)).exists()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- hardening: bad input, killed processes -------------------------------------------


def test_an_empty_ref_is_named_as_such(project: Path, db_name: str) -> None:
    result = _compare(project, db_name, "", "main")
    assert result.returncode == 2
    assert "Refusing the ref '': it is empty" in result.stderr
    assert "cannot start with '-'" not in result.stderr
    _assert_clean(project, db_name)


def test_a_working_tree_that_does_not_import_does_not_stop_compare(
    project: Path, db_name: str
) -> None:
    # Half-edited, uncommitted: the parent's system checks would import it.
    (project / "miniproj" / "urls.py").write_text("raise ImportError('half-edited')\n")
    result = _compare(project, db_name, "main", "fast", "--rounds", "1", "--format", "json")
    assert result.returncode == 0, result.stderr
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert endpoint["queries"] == {"base": 9, "head": 1}
    _assert_clean(project, db_name)


def test_a_failed_childs_log_is_kept_where_the_message_says(project: Path, db_name: str) -> None:
    _commit(
        project,
        "broken",
        {
            "shop/scenarios.py": SCENARIOS.replace(
                "for i in range(8):", "1 / 0\n    for i in range(8):"
            )
        },
        "break the scenario",
    )
    result = _compare(project, db_name, "main", "broken", "--rounds", "1")
    assert result.returncode == 2
    found = re.search(r"Full log: (\S+)", result.stderr)
    assert found is not None, result.stderr
    log = Path(found.group(1))
    try:
        assert "ZeroDivisionError" in log.read_text()
        assert sorted(p.name for p in log.parent.iterdir()) == ["head.log"]  # base's removed
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)
    _assert_clean(project, db_name)


KILLING_MIGRATION = """
import os, signal
from django.db import migrations

def die(apps, schema_editor):
    os.kill(os.getpid(), signal.SIGKILL)

class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunPython(die, migrations.RunPython.noop)]
"""


@pytest.mark.skipif(not POSTGRES, reason="an in-memory SQLite test database cannot leak")
def test_a_child_killed_while_migrating_leaves_no_database(project: Path, db_name: str) -> None:
    _commit(
        project,
        "killed",
        {"shop/migrations/0002_die.py": KILLING_MIGRATION},
        "die while migrating",
    )
    result = _compare(project, db_name, "main", "killed", "--rounds", "1")
    assert result.returncode == 2
    assert "The head child (killed @" in result.stderr
    assert f"exited with status {-signal.SIGKILL}" in result.stderr
    _assert_clean(project, db_name)
    _remove_kept_log(result.stderr)


def test_a_run_killed_by_sigkill_is_cleaned_up_by_the_next(project: Path, db_name: str) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "perfaudit",
            "compare",
            "main",
            "fast",
            "--rounds",
            "100000",
            "-v",
            "2",  # progress lines on stderr, which is not a terminal here
        ],
        cwd=project,
        env=_env(project, db_name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 120
    while "round 1/" not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    assert "round 1/" in seen, seen
    process.kill()
    process.wait()
    process.stderr.close()
    folders = re.search(r"worktrees in (\S+), child logs in (\S+)", seen)
    assert folders is not None, seen
    assert len(_worktrees(project)) == 3
    assert Path(folders.group(1)).exists()
    # The children see their stdin close, and drop their own databases.
    deadline = time.monotonic() + 60
    while _leftover_databases(db_name) and time.monotonic() < deadline:
        time.sleep(0.5)

    result = _compare(project, db_name, "main", "no-such-branch")
    assert result.returncode == 2
    assert "removed 2 folders left by a compare run that was killed" in result.stderr
    _assert_clean(project, db_name)
    assert not Path(folders.group(1)).exists()
    assert not Path(folders.group(2)).exists()

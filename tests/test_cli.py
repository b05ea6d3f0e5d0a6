"""``manage.py perfaudit``: Django's common options work after the subcommand."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

REPO = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    # These tests are about argv, not a database. The child runs Django's system
    # checks, which on MySQL with Django 6.1 connect to the settings' database
    # (never created: the suite's is ``test_``-prefixed), so the child uses
    # the in-memory SQLite settings whatever the suite runs on.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(REPO),
        "PERFAUDIT_TEST_DB": "sqlite",
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "perfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("report", "-v", "2", "--from", "{path}"),
        ("-v", "2", "report", "--from", "{path}"),
        ("report", "--from", "{path}", "--settings", "tests.settings", "--no-color"),
        ("report", "--from", "{path}", "--traceback", "--skip-checks"),
    ],
)
def test_common_options_before_or_after_the_subcommand(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = _manage(*(a.format(path=path) for a in args))
    assert result.returncode == 0, result.stderr
    assert "Nothing recorded yet" in result.stdout


def test_verbosity_after_the_subcommand_reaches_the_command(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    out = StringIO()
    call_command("perfaudit", "report", "--from", str(path), "-v", "0", stdout=out)
    assert "Nothing recorded yet" in out.getvalue()


@pytest.mark.parametrize("subcommand", ["audit", "compare", "report"])
def test_help_has_an_example_and_the_common_options(subcommand: str) -> None:
    result = _manage(subcommand, "--help")
    assert result.returncode == 0, result.stderr
    assert f"example:\n  manage.py perfaudit {subcommand} " in result.stdout
    assert "--verbosity" in result.stdout
    assert "--settings" in result.stdout

"""System checks for a malformed PERFAUDIT setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from perfaudit.checks import check_settings


def _ids(value: Any) -> list[str]:
    with override_settings(PERFAUDIT=value):
        return [error.id for error in check_settings() if error.id]


def test_no_setting_and_valid_settings_pass() -> None:
    assert check_settings() == []
    assert _ids({}) == []
    assert (
        _ids(
            {
                "MAX_QUERIES": 50,
                "CAPTURE_CALLSITES": False,
                "CAPTURE_PARAMS": True,
                "CALLSITE_SKIP_MODULES": ["myproject.db"],
            }
        )
        == []
    )


def test_not_a_dict_is_e001() -> None:
    assert _ids(["MAX_QUERIES", 5]) == ["perfaudit.E001"]


def test_unknown_key_is_e002_with_a_did_you_mean_hint() -> None:
    with override_settings(PERFAUDIT={"MAX_QUERYS": 5}):
        (error,) = check_settings()
    assert error.id == "perfaudit.E002"
    assert "MAX_QUERYS" in error.msg
    assert error.hint == "Did you mean 'MAX_QUERIES'?"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_QUERIES", "100"),
        ("MAX_QUERIES", 10.5),
        ("MAX_QUERIES", True),
        ("CAPTURE_CALLSITES", "yes"),
        ("CAPTURE_PARAMS", 1),
        ("CALLSITE_SKIP_MODULES", "myproject.db"),
        ("CALLSITE_SKIP_MODULES", ["ok", 3]),
        ("N_PLUS_ONE_MIN_REPEATS", 2.5),
        ("SLOW_QUERY_MS", "100"),
    ],
)
def test_wrong_type_is_e003(key: str, value: Any) -> None:
    with override_settings(PERFAUDIT={key: value}):
        (error,) = check_settings()
    assert error.id == "perfaudit.E003"
    assert key in error.msg
    assert error.hint


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_QUERIES", 0),
        ("MAX_QUERIES", -1),
        ("N_PLUS_ONE_MIN_REPEATS", 1),
        ("DUPLICATE_MIN_REPEATS", 0),
        ("SLOW_QUERY_MS", -0.5),
    ],
)
def test_out_of_range_is_e004(key: str, value: float) -> None:
    with override_settings(PERFAUDIT={key: value}):
        (error,) = check_settings()
    assert error.id == "perfaudit.E004"
    assert key in error.msg
    assert str(value) in error.msg


def test_every_problem_is_reported_at_once() -> None:
    assert sorted(_ids({"NOPE": 1, "MAX_QUERIES": -1, "CAPTURE_PARAMS": "x"})) == [
        "perfaudit.E002",
        "perfaudit.E003",
        "perfaudit.E004",
    ]


def test_checks_are_registered_with_django() -> None:
    with override_settings(PERFAUDIT={"MAX_QUERIES": -1}):
        assert "perfaudit.E004" in [message.id for message in run_checks()]
        with pytest.raises(SystemCheckError, match=r"perfaudit\.E004"):
            call_command("check")

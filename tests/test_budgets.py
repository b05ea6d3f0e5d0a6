"""Per-view budgets: matching, violations, validation."""

from __future__ import annotations

import pytest
from django.test import override_settings

from perfaudit.capture import QueryEvent, Recording
from perfaudit.checks import check_settings
from perfaudit.detect.budgets import Budget, budget_for, check_budget

BUDGETS = {
    "events:event-list": {"queries": 15, "db_ms": 50},
    "events:*": {"queries": 30},
    "*": {"queries": 100},
}


def test_exact_name_wins_over_patterns_and_patterns_apply_in_order() -> None:
    assert budget_for("events:event-list", BUDGETS) == Budget("events:event-list", 15, 50)
    assert budget_for("events:event-detail", BUDGETS) == Budget("events:*", 30, None)
    assert budget_for("home", BUDGETS) == Budget("*", 100, None)
    assert budget_for("home", {"events:*": {"queries": 1}}) is None


def test_budget_read_from_settings() -> None:
    with override_settings(PERFAUDIT={"BUDGETS": BUDGETS}):
        assert budget_for("events:event-list") == Budget("events:event-list", 15, 50)
    assert budget_for("events:event-list") is None


def test_violations_name_the_view_the_limit_and_the_setting() -> None:
    rec = Recording([QueryEvent("SELECT 1", duration=0.03)] * 20)
    (queries, db_ms) = check_budget("events:event-list", rec, BUDGETS)
    assert (queries.metric, queries.limit, queries.actual) == ("queries", 15, 20)
    assert str(queries) == (
        "events:event-list ran 20 queries, over its budget of 15 "
        "(PERFAUDIT['BUDGETS']['events:event-list']['queries'])"
    )
    assert db_ms.metric == "db_ms"
    assert db_ms.actual == pytest.approx(600)
    assert check_budget("events:event-detail", rec, BUDGETS) == []
    assert check_budget("unbudgeted", rec, {}) == []


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        (["events:list"], "perfaudit.E003"),
        ({"events:list": 15}, "perfaudit.E003"),
        ({"events:list": {"queries": "15"}}, "perfaudit.E003"),
        ({"events:list": {"queries": -1}}, "perfaudit.E004"),
        ({"events:list": {"querys": 15}}, "perfaudit.E004"),
        ({"events:list": {"db_ms": -0.1}}, "perfaudit.E004"),
    ],
)
def test_malformed_budgets_are_system_check_errors(value: object, check_id: str) -> None:
    with override_settings(PERFAUDIT={"BUDGETS": value}):
        (error,) = check_settings()
    assert error.id == check_id
    assert "BUDGETS" in error.msg


def test_valid_budgets_pass_the_checks() -> None:
    with override_settings(PERFAUDIT={"BUDGETS": BUDGETS}):
        assert check_settings() == []


def test_check_messages_name_the_value_with_one_quoting_style() -> None:
    with override_settings(PERFAUDIT={"BUDGETS": {"catalog:book-list": {"db_ms": "x"}}}):
        (error,) = check_settings()
    assert error.msg.startswith("PERFAUDIT['BUDGETS']['catalog:book-list']['db_ms'] must be")
    assert '"' not in error.msg.split(" must be")[0]


def test_every_problem_of_a_budget_entry_is_reported() -> None:
    value = {"catalog:book-list": {"queries": -1, "db_ms": "x", "rows": 3}}
    with override_settings(PERFAUDIT={"BUDGETS": value}):
        errors = check_settings()
    assert sorted(e.id for e in errors) == ["perfaudit.E003", "perfaudit.E004", "perfaudit.E004"]
    assert all("['catalog:book-list']" in e.msg for e in errors)


def test_one_bad_budget_entry_keeps_the_valid_ones(caplog: pytest.LogCaptureFixture) -> None:
    value = {"events:event-list": {"queries": 15}, "events:broken": {"queries": -1}}
    with override_settings(PERFAUDIT={"BUDGETS": value}):
        from perfaudit.conf import app_settings

        assert dict(app_settings.BUDGETS) == {"events:event-list": {"queries": 15}}
        assert budget_for("events:event-list") == Budget("events:event-list", 15, None)
        assert budget_for("events:broken") is None

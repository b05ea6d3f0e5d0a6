"""The settings accessor: defaults, overrides, and no traceback on bad values."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from perfaudit.conf import SETTINGS, app_settings


def test_defaults() -> None:
    assert app_settings.MAX_QUERIES == 10_000
    assert app_settings.CAPTURE_CALLSITES is True
    assert app_settings.CAPTURE_PARAMS is True
    assert app_settings.CALLSITE_SKIP_MODULES == ()


def test_every_declared_setting_has_a_typed_property_and_docs() -> None:
    for name, setting in SETTINGS.items():
        assert getattr(app_settings, name) == (
            tuple(setting.default) if isinstance(setting.default, tuple) else setting.default
        )
        assert setting.doc
        assert setting.type_label


def test_override_settings_is_seen_immediately() -> None:
    with override_settings(PERFAUDIT={"MAX_QUERIES": 7, "CALLSITE_SKIP_MODULES": ["a.b"]}):
        assert app_settings.MAX_QUERIES == 7
        assert app_settings.CALLSITE_SKIP_MODULES == ("a.b",)
    assert app_settings.MAX_QUERIES == 10_000


def test_invalid_values_fall_back_to_the_default_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="perfaudit"),
        override_settings(PERFAUDIT={"CAPTURE_PARAMS": "nope"}),
    ):
        assert app_settings.CAPTURE_PARAMS is True
        assert app_settings.CAPTURE_PARAMS is True
    warnings = [r for r in caplog.records if "CAPTURE_PARAMS" in r.getMessage()]
    assert len(warnings) == 1
    assert "perfaudit.E003" in warnings[0].getMessage()


def test_a_non_dict_setting_means_defaults() -> None:
    with override_settings(PERFAUDIT="oops"):
        assert app_settings.MAX_QUERIES == 10_000

"""The settings reference cannot drift from perfaudit/conf/."""

from __future__ import annotations

import re
from pathlib import Path

from perfaudit.conf import SETTINGS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _default_repr(value: object) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:_}"
    return repr(value)


def test_every_setting_is_documented_with_its_type_and_default() -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `([A-Z_]+)` \|.*$", text, flags=re.MULTILINE)
    }
    assert set(rows) == set(SETTINGS), "docs/settings.md keys differ from perfaudit.conf.SETTINGS"
    for name, setting in SETTINGS.items():
        cells = [cell.strip() for cell in rows[name].strip("|").split("|")]
        assert cells[1] == f"`{setting.type_label}`", name
        assert cells[2] == f"`{_default_repr(setting.default)}`", name

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


def test_the_logging_snippet_keeps_djangos_loggers_and_shows_perfaudits() -> None:
    """The LOGGING example in docs/middleware.md, applied for real."""
    import io
    import logging
    import logging.config
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "middleware.md").read_text()
    (snippet,) = re.findall(r"```python\n(LOGGING = \{.*?\n\})\n```", text, flags=re.S)
    namespace: dict[str, object] = {}
    exec(snippet, namespace)
    config = namespace["LOGGING"]
    server = logging.getLogger("django.server")
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
        for name, lg in (("perfaudit", logging.getLogger("perfaudit")), ("django.server", server))
    }
    try:
        logging.config.dictConfig(config)  # type: ignore[arg-type]
        assert not server.disabled  # runserver's access log still works
        logger = logging.getLogger("perfaudit")
        stream = io.StringIO()
        logger.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logger.warning("GET /api/books/ (books:book-list) over budget")
        assert (
            stream.getvalue()
            == "WARNING perfaudit: GET /api/books/ (books:book-list) over budget\n"
        )
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            restored = logging.getLogger(name)
            restored.handlers[:] = handlers
            restored.setLevel(level)
            restored.propagate = propagate
            restored.disabled = disabled

"""Property tests: whatever a JSONL file or a PERFAUDIT dict holds, nothing crashes.

``report`` either renders or exits 2 with one line; ``check_settings`` returns
check messages (never raises), and a value it accepts is the value the
runtime uses. Examples are bounded so the suite stays quick, and no example
database is written (``database=None``).
"""

from __future__ import annotations

import math
import string
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perfaudit.checks import check_settings
from perfaudit.conf import SETTINGS, app_settings

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _required(key: str, good: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``{key: a plausible value}`` nearly always (so lines get past validation),
    else ``{key: anything}`` or ``{}``."""
    plausible = good.map(lambda v: {key: v})
    return st.one_of(*[plausible] * 12, st.just({}), _json.map(lambda v: {key: v}))


def _optional(key: str, good: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``{}``, ``{key: a plausible value}`` or ``{key: anything}``, as often."""
    return st.one_of(st.just({}), good.map(lambda v: {key: v}), _json.map(lambda v: {key: v}))


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


_number = st.integers(0, 10**6) | st.floats(0, 1e6)
_shape = (
    st.tuples(
        _required("fingerprint", st.sampled_from(["SELECT a", "SELECT b", ""])),
        _required("count", st.integers(0, 50)),
        _required("db_ms", _number),
        _optional("max_ms", _number),
        _required("sql", st.sampled_from(["SELECT 1", "SELECT 1; COMMIT", "SELECT %s"])),
        _optional("alias", st.sampled_from(["default", "other"])),
        _optional("kind", st.sampled_from(["select", "insert"])),
        _optional(
            "callsites", st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=2)
        ),
        _optional("params", st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2)),
        _optional("param_count", st.integers(0, 3)),
    )
    .map(list)
    .map(_merge)
)
_finding = (
    st.tuples(
        _optional("kind", st.sampled_from(["n_plus_one", "duplicate"])),
        _optional("severity", st.sampled_from(["high", "medium", "low"])),
        _optional("fingerprint", st.sampled_from(["SELECT a", "SELECT b"])),
        _optional("count", st.integers(0, 9)),
        _optional("total_ms", _number),
        _optional("suggestion", st.text(max_size=10)),
        _optional("fix", st.text(max_size=10)),
        _optional("relation", st.text(max_size=10)),
    )
    .map(list)
    .map(_merge)
)
_request = (
    st.tuples(
        _required("v", st.just(1)),
        _required("view", st.sampled_from(["v1", "v2", ""])),
        _required("queries", st.integers(0, 100)),
        _required("db_ms", _number),
        _required("total_ms", _number),
        _optional("status", st.sampled_from([200, 304, 500])),
        _required("shapes", st.lists(_shape, min_size=1, max_size=3)),
        _optional("findings", st.lists(_finding, max_size=2)),
        _optional("violations", st.lists(_json, max_size=1)),
    )
    .map(list)
    .map(_merge)
)
_line = st.one_of(
    _request.map(orjson.dumps),
    _json.map(orjson.dumps),
    st.binary(max_size=30),
    st.just(b""),
)


_MAX_MS_X = orjson.dumps(
    {
        "v": 1,
        "view": "v",
        "queries": 1,
        "db_ms": 1,
        "total_ms": 2,
        "shapes": [{"fingerprint": "f", "count": 1, "db_ms": 1, "sql": "S", "max_ms": "x"}],
        "findings": [{"kind": "k", "total_ms": "y", "fix": {"a": 1}, "relation": [1]}],
    }
)


@FUZZ
@given(lines=st.lists(_line, max_size=5), fmt=st.sampled_from(["text", "markdown", "json"]))
@example(lines=[_MAX_MS_X], fmt="text")
@example(lines=[_MAX_MS_X], fmt="markdown")
def test_report_renders_or_says_why_in_one_line(
    tmp_path: Path, lines: list[bytes], fmt: str
) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    out = StringIO()
    error: CommandError | None = None
    try:
        call_command("perfaudit", "report", "--from", str(path), "--format", fmt, stdout=out)
    except CommandError as exc:
        error = exc
    if error is not None:
        assert error.returncode == 2
        assert "\n" not in str(error)
        assert str(error).startswith(f"Cannot report on {path}")
    elif fmt == "json":
        orjson.loads(out.getvalue())


class _Raising:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


_odd = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -0.0,
        "\x00",
        "a\x00b",
        Path("/tmp/x\x00"),
        b"bytes",
        _Raising(),
        [_Raising()],
        {"v": {"db_ms": float("nan")}},
        {"v": {"queries": True}},
        {_Raising(): {}},
    ]
)
_value = _json | _odd | st.floats() | st.integers()


@FUZZ
@given(raw=st.dictionaries(st.sampled_from(sorted(SETTINGS)), _value, max_size=4))
def test_check_settings_never_raises_and_agrees_with_the_runtime(raw: dict[str, Any]) -> None:
    with override_settings(PERFAUDIT=raw):
        messages = check_settings()
        assert all(m.id and m.id.startswith("perfaudit.E") for m in messages)
    for name, value in raw.items():
        with override_settings(PERFAUDIT={name: value}):
            rejected = bool(check_settings())
            used = app_settings.get(name)
            if rejected:
                assert _same(used, SETTINGS[name].default)
            else:
                assert used is value, (name, value)
                if isinstance(value, float):
                    assert not math.isnan(value)


def _same(a: Any, b: Any) -> bool:
    return a is b or a == b


@FUZZ
@given(
    key=st.text(alphabet=string.ascii_letters + "_\x00", max_size=12) | _odd,
    value=_value,
)
def test_unknown_keys_are_one_error_each(key: Any, value: Any) -> None:
    if isinstance(key, str) and key in SETTINGS:
        return
    try:
        raw = {key: value}
    except TypeError:  # unhashable
        return
    with override_settings(PERFAUDIT=raw):
        (message,) = check_settings()
    assert message.id == "perfaudit.E002"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_default_passes_its_own_check(name: str) -> None:
    assert SETTINGS[name].validate(name, SETTINGS[name].default) is None

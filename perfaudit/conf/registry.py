"""The table of ``PERFAUDIT`` keys: default, type label, doc sentence, validator.

docs/settings.md is checked against this table (tests/test_docs.py), so it
is the one place a key is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from perfaudit.conf.validators import (
    Validator,
    boolean,
    budgets,
    fraction,
    int_at_least,
    number_at_least,
    optional_path,
    optional_size,
    payload_patterns,
    str_sequence,
    text_masks,
)

__all__ = ["SETTINGS", "Setting"]


@dataclass(frozen=True)
class Setting:
    """One key of the ``PERFAUDIT`` dict."""

    name: str
    default: Any
    type_label: str
    doc: str
    validate: Validator


SETTINGS: Final[Mapping[str, Setting]] = {
    s.name: s
    for s in (
        Setting(
            "MAX_QUERIES",
            10_000,
            "int >= 1",
            "Most query events one recording keeps. Further queries are still executed "
            "and counted (`Recording.overflow`, `len(recording)`) but not stored, so a "
            "runaway loop cannot exhaust memory.",
            int_at_least(1),
        ),
        Setting(
            "CAPTURE_CALLSITES",
            True,
            "bool",
            "Attribute each query to the first frame outside Django, perfaudit, the "
            "standard library and site-packages. Costs a short stack walk per query; "
            "turn it off for the cheapest possible capture.",
            boolean,
        ),
        Setting(
            "CAPTURE_PARAMS",
            True,
            "bool",
            "Keep SQL parameter values on each event. The detectors need them to tell "
            "an N+1 (different values) from a duplicate (same values). They stay in "
            "process memory; nothing emits them unless DEBUG is on or you opt in.",
            boolean,
        ),
        Setting(
            "CAPTURE_HTTP_URLS",
            False,
            "bool",
            "Keep the path and query string of outbound HTTP requests. Off: only method, "
            "scheme, host and port are recorded (query strings often carry tokens). "
            "Headers and bodies are never recorded.",
            boolean,
        ),
        Setting(
            "CALLSITE_SKIP_MODULES",
            (),
            "list[str]",
            "Extra module-name prefixes treated as library code when attributing call "
            "sites, e.g. `['myproject.db_helpers']` so the frame that called your "
            "helper is reported instead of the helper itself.",
            str_sequence,
        ),
        Setting(
            "N_PLUS_ONE_MIN_REPEATS",
            3,
            "int >= 2",
            "How many queries of one shape, from one call site, with different parameters, "
            "make an N+1 finding. See docs/detectors.md for why 3.",
            int_at_least(2),
        ),
        Setting(
            "DUPLICATE_MIN_REPEATS",
            2,
            "int >= 2",
            "How many runs of the same read with the same parameters make a duplicate finding.",
            int_at_least(2),
        ),
        Setting(
            "SLOW_QUERY_MS",
            100,
            "number >= 0",
            "A query at least this long (milliseconds) is reported as slow.",
            number_at_least(0),
        ),
        Setting(
            "BUDGETS",
            {},
            "dict[str, dict]",
            "Per-view limits, keyed by view name (`namespace:name`) or shell pattern "
            '(`events:*`): `{"events:event-list": {"queries": 15, "db_ms": 50}}`. '
            "Checked by the test API and the middleware.",
            budgets,
        ),
        Setting(
            "HEADERS",
            False,
            "bool",
            "Send the `Server-Timing`, `X-PerfAudit-Queries` and `X-PerfAudit-Payload` "
            "response headers even when DEBUG is off. With DEBUG on they are always sent.",
            boolean,
        ),
        Setting(
            "RAISE",
            False,
            "bool",
            "Make the middleware raise when a view exceeds its budget, instead of logging "
            "it. For development servers only.",
            boolean,
        ),
        Setting(
            "PAYLOAD_HASH",
            False,
            "bool",
            "Make the middleware hash each response's canonical payload (logged, stored, "
            "and sent as `X-PerfAudit-Payload` under the `HEADERS` rule).",
            boolean,
        ),
        Setting(
            "SAMPLE_RATE",
            1.0,
            "number 0..1",
            "Fraction of requests the middleware records when DEBUG is off. With DEBUG on "
            "every request is recorded.",
            fraction,
        ),
        Setting(
            "STORE_MAX_VIEWS",
            1000,
            "int >= 1",
            "Most views whose aggregates the in-process store keeps; the least recently "
            "seen view is dropped first, so memory stays bounded.",
            int_at_least(1),
        ),
        Setting(
            "JSONL_PATH",
            None,
            "path or None",
            "Append one JSON line per recorded request to this file, for "
            "`manage.py perfaudit report --from FILE`. Off by default.",
            optional_path,
        ),
        Setting(
            "JSONL_PARAMS",
            False,
            "bool",
            "Include SQL parameter values in the JSONL lines (opt-in: they may hold personal "
            "data). `report --explain` needs them to EXPLAIN the exact statements.",
            boolean,
        ),
        Setting(
            "JSONL_IN_TESTS",
            False,
            "bool",
            "Write JSONL lines also under Django's test environment (the test runner, "
            "pytest-django, `audit` and `compare`). Off by default, so test traffic never "
            "lands in the development file `report` reads.",
            boolean,
        ),
        Setting(
            "EXCLUDE",
            (),
            "list[str]",
            'Requests the middleware does not record: URL names (`"admin:*"`, '
            '`"health"`) or, starting with `/`, paths (`"/static/*"`), as shell-style '
            "patterns. django-debug-toolbar's own views (`djdt:*`) are never recorded.",
            str_sequence,
        ),
        Setting(
            "JSONL_MAX_BYTES",
            None,
            "int >= 4096 or None",
            "Rotate the JSONL file when the next line would take it past this size: it "
            "is renamed to `<JSONL_PATH>.1` (replacing the previous backup) and a new "
            "file is started, so the disk holds at most about twice this. `None` (the "
            "default): the file grows until you rotate it.",
            optional_size,
        ),
        Setting(
            "OTEL",
            True,
            "bool",
            "With `opentelemetry-api` installed and a tracer or meter provider "
            "configured, add each recorded request's figures and findings to the "
            "current span and record perfaudit's metrics. Without a provider nothing "
            "happens; `False` turns it off even with one. See docs/production.md.",
            boolean,
        ),
        Setting(
            "SCENARIOS",
            (),
            "list[str]",
            "Dotted paths of modules that declare `@perfaudit.scenario`s, for "
            "`manage.py perfaudit audit` and `compare`.",
            str_sequence,
        ),
        Setting(
            "PAYLOAD_IGNORE",
            (),
            "list[str]",
            "JSONPath-like patterns (`$.results[*].updated_at`, `$..csrf_token`) whose "
            "values are replaced by a fixed marker before a payload is hashed, for fields "
            "that legitimately change between two runs.",
            payload_patterns,
        ),
        Setting(
            "PAYLOAD_IGNORE_TEXT",
            (),
            "list[str]",
            'Masks for bodies that are not JSON (HTML, text): `"csrf"` (the '
            '`{% csrf_token %}` value), `"nonce"` (CSP `nonce` attributes), or regular '
            "expressions whose capturing group is replaced by a fixed marker before hashing.",
            text_masks,
        ),
    )
}

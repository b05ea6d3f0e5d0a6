"""Compare output: text for the terminal, markdown for the PR, JSON for machines.

All three come from the same :class:`~perfaudit.compare.session.Comparison`.
:func:`regressions` decides the exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Final

import orjson

from perfaudit.compare.session import Comparison, EndpointResult
from perfaudit.compare.split import split_json, split_lines, split_sentence
from perfaudit.compare.stats import Summary, Verdict
from perfaudit.payload import full_json, shorten_json, shorten_pair
from perfaudit.text import plural

__all__ = ["CHECKS", "DEFAULT_FAIL_ON", "as_json", "as_markdown", "as_text", "regressions"]

#: What ``--fail-on`` may name.
CHECKS: Final = ("queries", "time", "payload", "findings")
#: Exact checks only: time on shared CI runners is noisy.
DEFAULT_FAIL_ON: Final = ("queries", "payload", "findings")


def regressions(endpoint: EndpointResult, fail_on: Collection[str]) -> list[str]:
    """Why ``endpoint`` counts as a regression under ``fail_on`` (empty: it does not)."""
    found = []
    if endpoint.status["base"] != endpoint.status["head"] or not endpoint.expected["head"]:
        found.append(f"status {endpoint.status['base']} → {endpoint.status['head']}")
    if "queries" in fail_on and endpoint.queries["head"] > endpoint.queries["base"]:
        found.append(f"queries {endpoint.queries['base']} → {endpoint.queries['head']}")
    if "payload" in fail_on and endpoint.payload == "different":
        where = endpoint.difference["path"] if endpoint.difference else "the raw body"
        found.append(f"payload differs at {where}")
    if "findings" in fail_on and endpoint.findings_added:
        kinds = ", ".join(_finding_name(f) for f in endpoint.findings_added)
        found.append(f"new findings: {kinds}")
    if "time" in fail_on and endpoint.time_verdict.change == "slower":
        found.append(f"slower: {_speed(endpoint.time_verdict)}")
    return found


def _finding_name(finding: dict[str, Any]) -> str:
    what = finding["relation"] or finding.get("model") or finding["fingerprint"][:60]
    return f"{finding['kind']} ({what})"


def _speed(v: Verdict) -> str:
    if v.ratio <= 0:
        return "n/a"
    if v.ratio < 1:
        return f"{1 / v.ratio:.2f}× faster"
    return f"{v.ratio:.2f}× slower"


def _time(v: Verdict) -> str:
    """The time verdict in words that cannot read as a contradiction.

    "within noise (3.67× faster, p=0.0052)" looked like a claim and its denial;
    the reason a change does not count is said instead.
    """
    p = _p(v.p_value)
    if v.change != "within noise":
        return f"{_speed(v)} (p = {p} < {v.alpha:g})"
    if v.p_value >= v.alpha:
        return f"no significant change (median {_speed(v)}, p = {p} ≥ {v.alpha:g})"
    return f"no significant change (median {_speed(v)}, below the {v.factor:g}× threshold)"


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def _ms(s: Summary) -> str:
    return f"{s.median:.1f} [{s.low:.1f}–{s.high:.1f}]"


def _queries(e: EndpointResult) -> str:
    base, head = e.queries["base"], e.queries["head"]
    delta = head - base
    text = f"{base} → {head}" + (f"  ({delta:+d})" if delta else "  (same)")
    for side in ("base", "head"):
        low, high = e.queries_range[side]
        if low != high:
            text += f"  [{side} varied {low}–{high}]"
    return text


def _payload(e: EndpointResult) -> str:
    """One line; values shortened (:func:`perfaudit.payload.shorten`), never whole."""
    if e.payload == "identical":
        text = f"identical  {e.hashes['head']}"
    elif e.payload == "different" and e.difference:
        d = e.difference
        text = (
            f"DIFFERENT at {d['path']}: {shorten_pair(d['base'], d['head'])}; "
            f"{plural(d['count'], 'path')} differ"
        )
    else:
        text = e.payload.upper() if e.payload == "different" else e.payload
    if e.volatile:
        text += f"  (volatile, ignored: {_volatile(e)})"
    if e.payload_note:
        text += f"  [{e.payload_note}]"
    return text


def _volatile(e: EndpointResult) -> str:
    return ", ".join(e.volatile[:5]) + (
        f" and {len(e.volatile) - 5} more" if len(e.volatile) > 5 else ""
    )


def _header(c: Comparison) -> list[str]:
    return [
        f"perfaudit compare  {c.base.ref} ({c.base.commit[:10]}) → "
        f"{c.head.ref} ({c.head.commit[:10]})",
        f"{c.rounds} interleaved rounds after a warm-up; set-up base "
        f"{c.setup_seconds.get('base', 0):.1f} s, head {c.setup_seconds.get('head', 0):.1f} s; "
        f"rounds {c.rounds_seconds:.1f} s",
    ]


def as_text(
    c: Comparison, fail_on: Collection[str], style: Callable[[str, str], str] | None = None
) -> str:
    """The terminal report; ``style(kind, text)`` colours (kinds: bad, good, head)."""
    paint = style or (lambda kind, text: text)
    lines = [paint("head", line) for line in _header(c)]
    for e in c.endpoints:
        problems = regressions(e, fail_on)
        lines += ["", paint("head", e.name)]
        lines.append(f"  status    {e.status['base']} → {e.status['head']}")
        lines.append(f"  queries   {_queries(e)}")
        lines.append(f"  DB ms     {_ms(e.db_ms['base'])} → {_ms(e.db_ms['head'])}")
        lines.append(
            f"  total ms  {_ms(e.total_ms['base'])} → {_ms(e.total_ms['head'])}  "
            f"{_time(e.time_verdict)}"
        )
        lines.extend(split_lines(e))  # cache, HTTP, CPU, the middleware tax
        payload = _payload(e)
        lines.append(
            "  payload   " + paint("bad" if e.payload == "different" else "good", payload)
        )
        removed = ", ".join(_finding_name(f) for f in e.findings_removed) or "none"
        added = ", ".join(_finding_name(f) for f in e.findings_added) or "none"
        lines.append(f"  findings  removed: {removed}")
        lines.append(f"            added: {added}")
        if problems:
            lines.append(paint("bad", "  REGRESSION: " + "; ".join(problems)))
    return "\n".join(lines)


def as_markdown(c: Comparison, fail_on: Collection[str], *, plot: Path | None = None) -> str:
    """A table ready to paste into a pull request (with the timing plot, if drawn)."""
    lines = [
        f"### perfaudit compare `{c.base.ref}` → `{c.head.ref}`",
        "",
        f"{c.rounds} interleaved rounds after a warm-up "
        f"(`{c.base.commit[:10]}` → `{c.head.commit[:10]}`). Times are medians in ms "
        f"[min–max]; a time change counts only at p < 0.002 (Mann–Whitney U) and ≥ 1.1×.",
        "",
        "| endpoint | status | queries | DB ms | total ms | time | payload | findings |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    details: list[str] = []
    for e in c.endpoints:
        payload = "✅ identical" if e.payload == "identical" else f"❌ {e.payload}"
        if e.payload == "different" and e.difference:
            payload += f" at `{e.difference['path']}`"
        findings = _finding_change(len(e.findings_removed), len(e.findings_added))
        base_q, head_q = e.queries["base"], e.queries["head"]
        queries = f"{base_q} → **{head_q}**" if base_q != head_q else f"{head_q} (same)"
        lines.append(
            f"| {e.name} | {e.status['base']} → {e.status['head']} | {queries} | "
            f"{e.db_ms['base'].median:.1f} → {e.db_ms['head'].median:.1f} | "
            f"{_ms(e.total_ms['base'])} → {_ms(e.total_ms['head'])} | "
            f"{_time(e.time_verdict)} | {payload} | {findings} |"
        )
        for f in e.findings_removed:
            details.append(f"- {e.name}: removed `{_finding_name(f)}`")
        for f in e.findings_added:
            details.append(f"- {e.name}: **added** `{_finding_name(f)}` — {f['suggestion']}")
        for problem in regressions(e, fail_on):
            details.append(f"- {e.name}: **regression** — {problem}")
        if e.payload == "different" and e.difference:
            d = e.difference
            details.append(
                f"- {e.name}: payload differs at `{d['path']}`: "
                f"{shorten_pair(d['base'], d['head'])}; {plural(d['count'], 'path')} differ"
            )
        if e.volatile:
            details.append(f"- {e.name}: volatile, ignored: {_volatile(e)}")
        if e.payload_note:
            details.append(f"- {e.name}: payload: {e.payload_note}")
        beside = split_sentence(e)
        if beside is not None:
            details.append(beside)
    if details:
        lines += ["", *details]
    if plot is not None:
        lines += ["", f"![request times per round, base against head]({plot.as_posix()})"]
    return "\n".join(lines) + "\n"


def _finding_change(removed: int, added: int) -> str:
    parts = [f"−{removed}" if removed else "", f"+{added}" if added else ""]
    return " / ".join(part for part in parts if part) or "no change"


#: Version of the JSON document ``compare --format json`` writes.
FORMAT_VERSION: Final = 1


def as_json(c: Comparison, fail_on: Collection[str], *, show_values: bool = False) -> str:
    """The data; differing payload values shortened unless ``show_values`` (``--show-values``)."""
    value = full_json if show_values else shorten_json

    def difference(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        return {**d, "base": value(d["base"]), "head": value(d["head"])}

    def endpoint(e: EndpointResult) -> dict[str, Any]:
        return {
            "scenario": e.scenario,
            "request": e.label,
            "status": e.status,
            "queries": e.queries,
            "queries_range": e.queries_range,
            "shapes": e.shapes,
            "db_ms": {k: _summary(v) for k, v in e.db_ms.items()},
            "total_ms": {k: _summary(v) for k, v in e.total_ms.items()},
            "time": _verdict(e.time_verdict),
            "db_time": _verdict(e.db_verdict),
            **split_json(e),
            "payload": {
                "result": e.payload,
                "hashes": e.hashes,
                "difference": difference(e.difference),
                "volatile": e.volatile,
                "note": e.payload_note,
                "data_hashes": e.data_hashes,
            },
            "findings": {
                "added": e.findings_added,
                "removed": e.findings_removed,
                "base": e.findings["base"],
                "head": e.findings["head"],
            },
            "regressions": regressions(e, fail_on),
        }

    import perfaudit

    data = {
        # The same envelope as audit's JSON document.
        "format": FORMAT_VERSION,
        "tool": f"perfaudit {perfaudit.__version__}",
        "command": "compare",
        "base": {"ref": c.base.ref, "commit": c.base.commit},
        "head": {"ref": c.head.ref, "commit": c.head.commit},
        "rounds": c.rounds,
        "setup_seconds": c.setup_seconds,
        "rounds_seconds": c.rounds_seconds,
        "fail_on": sorted(fail_on),
        "values": "full" if show_values else "shortened",
        "endpoints": [endpoint(e) for e in c.endpoints],
    }
    return orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()


def _summary(s: Summary) -> dict[str, float]:
    return {"median": s.median, "min": s.low, "max": s.high, "n": s.n}


def _verdict(v: Verdict) -> dict[str, Any]:
    return {"change": v.change, "ratio": v.ratio, "p_value": v.p_value}

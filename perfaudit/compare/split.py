"""compare's view of where the time goes besides SQL: per-axis medians and their change.

One place for the cache / HTTP / CPU lines and the middleware tax, so the
text, Markdown and JSON reports say the same thing.
"""

from __future__ import annotations

from typing import Any

from perfaudit.compare.session import EndpointResult
from perfaudit.compare.stats import Summary

__all__ = ["split_json", "split_lines", "split_sentence"]

_AXES = (("cache_ms", "cache ms"), ("http_ms", "HTTP ms"), ("cpu_ms", "CPU ms"))


def _axes(e: EndpointResult) -> list[tuple[str, Summary, Summary]]:
    """The axes measured on both sides, skipping cache/HTTP when zero on both."""
    shown = []
    for key, label in _AXES:
        base, head = e.split.get("base", {}).get(key), e.split.get("head", {}).get(key)
        if base is None or head is None:
            continue
        if key != "cpu_ms" and base.median == 0 and head.median == 0:
            continue
        shown.append((label, base, head))
    return shown


def _change(base: float, head: float) -> str:
    return f"{head - base:+.1f} ms"


def _tax(side: list[dict[str, Any]]) -> float:
    return float(sum(m["ms"] for m in side))


def _unused(side: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{m['name'].rsplit('.', 1)[-1]} ({m['unused']})" for m in side if m["unused"]
    )


def split_lines(e: EndpointResult) -> list[str]:
    """Text-report lines: one per axis, then the middleware tax."""
    lines = [
        f"  {label:<9} {base.median:.1f} [{base.low:.1f}–{base.high:.1f}] → "
        f"{head.median:.1f} [{head.low:.1f}–{head.high:.1f}]  "
        f"({_change(base.median, head.median)})"
        for label, base, head in _axes(e)
    ]
    base, head = e.middleware.get("base"), e.middleware.get("head")
    if base and head:
        lines.append(f"  middleware {_tax(base):.2f} → {_tax(head):.2f} ms per request")
        unused = _unused(head)
        if unused:
            lines.append(f"            unused at head: {unused}")
    return lines


def split_sentence(e: EndpointResult) -> str | None:
    """One Markdown detail line (``None`` when there is nothing beside SQL to say)."""
    parts = [
        f"{label} {base.median:.1f} → {head.median:.1f} ({_change(base.median, head.median)})"
        for label, base, head in _axes(e)
    ]
    base, head = e.middleware.get("base"), e.middleware.get("head")
    if base and head:
        parts.append(f"middleware {_tax(base):.2f} → {_tax(head):.2f} ms")
        unused = _unused(head)
        if unused:
            parts.append(f"unused at head: {unused}")
    return f"- {e.name}: " + ", ".join(parts) if parts else None


def split_json(e: EndpointResult) -> dict[str, Any]:
    """``{"cache_ms": {"base": {...}, "head": {...}, "change": ms}, ..., "middleware": ...}``."""
    data: dict[str, Any] = {}
    for key, _label in _AXES:
        sides = {side: e.split.get(side, {}).get(key) for side in ("base", "head")}
        data[key] = {
            side: (
                {"median": s.median, "min": s.low, "max": s.high, "n": s.n}
                if s is not None
                else None
            )
            for side, s in sides.items()
        }
        base, head = sides["base"], sides["head"]
        data[key]["change"] = (
            round(head.median - base.median, 3) if base is not None and head is not None else None
        )
    data["middleware"] = e.middleware
    return data

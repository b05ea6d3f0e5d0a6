"""Payload identity of one endpoint in compare: a change only when it reproduces.

Each ref sent two payloads per request, at least a second apart (the
warm-up and a check run, see ``session._rounds``). Fields that moved within a
ref are volatile; base against head counts only elsewhere
(:func:`perfaudit.payload.judge`). A data-level hash (``response.data`` of a
DRF view) only explains a difference, it never decides one.
"""

from __future__ import annotations

from typing import Any

from perfaudit.payload import Snapshot, judge

__all__ = ["judge_payloads"]

SIDES = ("base", "head")


def judge_payloads(
    runs: dict[str, list[dict[str, Any]]],
) -> tuple[str, dict[str, Any] | None, list[str], str | None]:
    """Result, first stable difference, volatile paths and a note, from both refs' runs."""
    snaps = {
        side: [Snapshot.from_wire(r["payload"]) for r in runs[side] if r.get("payload")]
        for side in SIDES
    }
    hashes = {side: runs[side][0]["hash"] for side in SIDES}
    if not snaps["base"] or not snaps["head"]:  # a child that sent no payload
        same = hashes["base"] is not None and hashes["base"] == hashes["head"]
        return ("identical" if same else "not comparable"), None, [], None
    verdict = judge(snaps["base"], snaps["head"])
    notes = [verdict.note] if verdict.note else []
    difference = None
    if verdict.changes:
        first = verdict.changes[0]
        difference = {
            "path": first.path,
            "base": first.base,
            "head": first.head,
            "count": verdict.count,
        }
        data = {side: runs[side][0].get("data_hash") for side in SIDES}
        if data["base"] is not None and data["base"] == data["head"]:
            notes.append(
                "response.data is the same at both refs: the difference is made after the "
                "view (renderer, content negotiation, JSON encoder or a middleware)"
            )
    varied = [s for s in SIDES if len({r["hash"] for r in runs[s]}) > 1]
    if varied and not verdict.volatile:
        notes.append(
            f"the payload of {' and '.join(varied)} varied between rounds, but not between "
            "its two compared runs: the varying field was not identified"
        )
    return verdict.result, difference, verdict.volatile, "; ".join(notes) or None

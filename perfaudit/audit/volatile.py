"""``audit --repeat``: fields that move between two runs of a request are volatile.

A payload that differs between two runs of the same request, at the same
code, is not a behaviour change: a ``now()`` timestamp, a JWT whose ``exp``
counts whole seconds, a random nonce. Repeats in quick succession only catch
such a field when they happen to straddle a second boundary, so after a
scenario's requests ran, each repeated request is run once more, at least
:data:`RECHECK_AFTER` after its first run (one wait per scenario, at most a
second), and the fields that moved are reported as volatile, never as a
failure. Only a payload that changes as a whole (its kind, or a body that
cannot be compared piece by piece) still fails the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from perfaudit.payload import snapshot, volatile_paths
from perfaudit.scenarios import SAFE_METHODS

if TYPE_CHECKING:
    from perfaudit.audit.results import RequestResult

__all__ = ["RECHECK_AFTER", "recheck_payloads"]

#: Two instants this far apart differ in any clock counted in whole seconds.
RECHECK_AFTER: Final = 1.0


def recheck_payloads(
    scenario: str, results: Sequence[RequestResult], send: Callable[[Any, Any], Any]
) -> None:
    """Run each repeated request once more, a second after its first run; name what moved."""
    due = [
        r
        for r in results
        if r.ok and r.client is not None and r.snapshots and r.request.method in SAFE_METHODS
    ]
    if not due:
        return
    time.sleep(max(0.0, max(r.first_run_at for r in due) + RECHECK_AFTER - time.monotonic()))
    for r in due:
        prefix = f"scenario {scenario!r}, {r.request.label}"
        try:
            response = send(r.client, r.request)
        except Exception as exc:
            r.error = f"{prefix}: the view raised {type(exc).__name__} when run again: {exc}"
            continue
        r.snapshots.append(snapshot(response)[1])
        paths, whole = volatile_paths(r.snapshots)
        if whole:
            kinds = " then ".join(f"{s.kind} ({s.status})" for s in r.snapshots)
            r.error = (
                f"{prefix}: the payload changed as a whole between --repeat runs ({kinds}); "
                "make the view deterministic, or mask what changes with "
                "PERFAUDIT['PAYLOAD_IGNORE'] / ['PAYLOAD_IGNORE_TEXT']."
            )
        r.volatile = paths

"""One compare run: worktrees, two children, interleaved rounds, the verdicts.

Returns plain data (:class:`Comparison`); ``report.py`` formats it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfaudit.audit.middleware_tax import median_report
from perfaudit.compare.git import (
    FOLDER_PREFIX,
    CompareError,
    Ownership,
    Worktree,
    clean_stale,
    repo_root,
    worktrees,
)
from perfaudit.compare.payloads import judge_payloads
from perfaudit.compare.runner import Child
from perfaudit.compare.stats import Summary, Verdict, summarise, verdict
from perfaudit.scenarios.testdb import _sigterm_as_interrupt
from perfaudit.text import plural

__all__ = ["Comparison", "EndpointResult", "compare"]

SIDES = ("base", "head")
#: Seconds between a ref's warm-up and its check run: two instants this far
#: apart differ in any clock counted in whole seconds (a JWT ``exp``).
RECHECK_AFTER = 1.0


@dataclass
class EndpointResult:
    """Base against head for one request of one scenario."""

    scenario: str
    label: str
    status: dict[str, int]
    expected: dict[str, bool]
    queries: dict[str, int]
    queries_range: dict[str, tuple[int, int]]
    shapes: dict[str, dict[str, int]]
    db_ms: dict[str, Summary]
    total_ms: dict[str, Summary]
    time_verdict: Verdict
    db_verdict: Verdict
    payload: str  # "identical", "different", "not comparable"
    hashes: dict[str, str | None]
    difference: dict[str, Any] | None
    volatile: list[str]
    findings_added: list[dict[str, Any]]
    findings_removed: list[dict[str, Any]]
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Total ms of each timed round, per side (what the plot draws).
    samples: dict[str, list[float]] = field(default_factory=dict)
    payload_note: str | None = None
    data_hashes: dict[str, str | None] = field(default_factory=dict)
    #: Beside SQL, per side: "cache_ms", "http_ms", "cpu_ms" summaries (timed rounds).
    split: dict[str, dict[str, Summary]] = field(default_factory=dict)
    #: Per side: each middleware's median ms and why its work went unused.
    middleware: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.scenario}: {self.label}"


@dataclass
class Comparison:
    base: Worktree
    head: Worktree
    rounds: int
    setup_seconds: dict[str, float]
    rounds_seconds: float
    endpoints: list[EndpointResult]


def compare(
    base_ref: str,
    head_ref: str,
    *,
    cwd: Path,
    rounds: int = 10,
    scenarios: Sequence[str] = (),
    keep: bool = False,
    progress: Callable[[str], None] = lambda message: None,
    notice: Callable[[str], None] | None = None,
) -> Comparison:
    """Run the scenarios at both refs, rounds interleaved; see the module docs.

    ``progress`` gets the steps; ``notice`` (default: ``progress``) what the
    user must hear even without progress, such as a clean-up of an earlier run.
    """
    root = repo_root(cwd)
    stale = clean_stale(root)
    if stale:
        (notice or progress)(
            f"removed {plural(len(stale), 'folder')} left by a compare run that was killed"
        )
    with ExitStack() as stack:
        stack.callback(_sigterm_as_interrupt())  # SIGTERM → KeyboardInterrupt; undone on exit
        ownership = Ownership(root)
        stack.callback(ownership.release)  # last: after every folder is removed (or kept)
        trees = stack.enter_context(
            worktrees(root, {"base": base_ref, "head": head_ref}, keep=keep, ownership=ownership)
        )
        log_dir = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}logs-"))
        ownership.add(log_dir)
        children: dict[str, Child] = {}
        if not keep:
            stack.callback(_remove_logs, log_dir, children)
        progress(f"worktrees in {trees['base'].path.parent}, child logs in {log_dir}")
        interrupted = [False]

        def stop_children() -> None:
            for child in children.values():
                child.stop(interrupted=interrupted[0])

        stack.callback(stop_children)
        setup: dict[str, float] = {}
        try:
            started = time.perf_counter()
            for side in SIDES:
                progress(f"starting {side} ({trees[side].ref} @ {trees[side].commit[:10]})")
                children[side] = Child(
                    trees[side], root=root, cwd=cwd, scenarios=list(scenarios), log_dir=log_dir
                )
            for side in SIDES:
                # The names of the test databases, before the child creates them: a
                # child killed while migrating leaves nothing the parent cannot drop.
                children[side].receive_databases()
            ready = {}
            for side in SIDES:
                ready[side] = children[side].receive()
                setup[side] = time.perf_counter() - started
                progress(f"{side} ready: test database created and migrated")
            plan = _plan(ready, scenarios)
            rounds_seconds = 0.0
            results: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
            for name in plan:
                for side in SIDES:
                    children[side].send(cmd="setup", scenario=name)
                for side in SIDES:
                    setup[side] += children[side].receive()["seconds"]
                progress(f"scenario {name}: data set up at both refs")
                rounds_started = time.perf_counter()
                collected = _rounds(children, rounds, progress, name)
                rounds_seconds += time.perf_counter() - rounds_started
                for side in SIDES:
                    results[side].extend(_transpose(collected[side]))
        except KeyboardInterrupt:
            interrupted[0] = True
            raise
        endpoints = _endpoints(results)
        return Comparison(trees["base"], trees["head"], rounds, setup, rounds_seconds, endpoints)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack never swallows


def _remove_logs(log_dir: Path, children: dict[str, Child]) -> None:
    """Remove the child logs, except those of a child that failed: its message points there."""
    failed = [child for child in children.values() if child.failed]
    if not failed:
        shutil.rmtree(log_dir, ignore_errors=True)
        return
    for child in children.values():
        if not child.failed:
            child.log_path.unlink(missing_ok=True)


def _plan(ready: dict[str, dict[str, Any]], requested: Sequence[str]) -> list[str]:
    """The scenarios to run: declared at both refs (all of them, or those requested)."""
    base, head = ready["base"]["scenarios"], ready["head"]["scenarios"]
    names = list(requested) or [name for name in base if name in head]
    missing = [n for n in names if n not in base or n not in head]
    if missing:
        raise CompareError(
            f"{'Scenario' if len(missing) == 1 else 'Scenarios'} {missing} "
            f"{'is' if len(missing) == 1 else 'are'} not declared at both refs; compare runs what "
            f"both declare (base: {sorted(base)}, head: {sorted(head)})."
        )
    if not names:
        raise CompareError(
            "No scenario is declared at both refs: list your scenario modules in "
            'PERFAUDIT["SCENARIOS"] (see docs/audit.md).'
        )
    return names


def _rounds(
    children: dict[str, Child], rounds: int, progress: Callable[[str], None], name: str
) -> dict[str, list[list[dict[str, Any]]]]:
    """Warm-up (payloads kept, not timed), ``rounds`` interleaved rounds, a check run.

    The order alternates base-head, head-base, … so neither side always runs
    first after a pause. Payloads are fetched twice per ref, at least
    :data:`RECHECK_AFTER` apart: in the warm-up, and in the last round if it
    starts late enough, else in one more (untimed) check round after a short
    wait. A difference between base and head then only counts where neither
    ref moved between its two runs (see :func:`perfaudit.payload.judge`).
    """
    collected: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
    warmed: dict[str, float] = {}
    checked: set[str] = set()
    for number in range(rounds + 1):
        order = SIDES if number % 2 == 0 else tuple(reversed(SIDES))
        for side in order:
            late = number == rounds and time.monotonic() - warmed[side] >= RECHECK_AFTER
            payloads = number == 0 or late
            children[side].send(cmd="round", payloads=payloads)
            collected[side].append(children[side].receive()["results"])
            if number == 0:
                warmed[side] = time.monotonic()
            elif late:
                checked.add(side)
        if number:
            progress(f"{name}: round {number}/{rounds}")
    for side in SIDES:
        if side in checked:
            continue
        time.sleep(max(0.0, warmed[side] + RECHECK_AFTER - time.monotonic()))
        children[side].send(cmd="round", payloads=True)
        results = children[side].receive()["results"]
        for result in results:
            result["check"] = True  # untimed: only its payload is used
        collected[side].append(results)
    return collected


def _transpose(rounds: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Rounds of requests → requests of rounds."""
    return [list(runs) for runs in zip(*rounds, strict=True)]


def _endpoints(results: dict[str, list[list[dict[str, Any]]]]) -> list[EndpointResult]:
    """Pair base and head runs of the same scenario request."""
    head_by_key = {(runs[0]["scenario"], runs[0]["label"]): runs for runs in results["head"]}
    endpoints = []
    for runs in results["base"]:
        key = (runs[0]["scenario"], runs[0]["label"])
        if key in head_by_key:
            endpoints.append(_endpoint(key, {"base": runs, "head": head_by_key[key]}))
    return endpoints


def _endpoint(key: tuple[str, str], runs: dict[str, list[dict[str, Any]]]) -> EndpointResult:
    warm = {side: runs[side][0] for side in SIDES}
    timed = {
        side: [r for r in runs[side][1:] if not r.get("check")] or runs[side] for side in SIDES
    }
    total = {side: [r["total_ms"] for r in timed[side]] for side in SIDES}
    db = {side: [r["db_ms"] for r in timed[side]] for side in SIDES}
    queries = {side: [r["queries"] for r in runs[side]] for side in SIDES}
    payload, difference, volatile, note = judge_payloads(runs)
    hashes = {side: warm[side]["hash"] for side in SIDES}
    data_hashes = {side: warm[side].get("data_hash") for side in SIDES}

    def keys(findings: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        # Every finding keeps its own key, so the counts here are those of the
        # analysis (two findings on one relation in two requests stay two).
        return {
            (f["kind"], f.get("relation") or "", f["fingerprint"], f.get("request") or ""): f
            for f in findings
        }

    base_findings, head_findings = keys(warm["base"]["findings"]), keys(warm["head"]["findings"])
    return EndpointResult(
        scenario=key[0],
        label=key[1],
        status={side: warm[side]["status"] for side in SIDES},
        expected={side: all(r["expected"] for r in runs[side]) for side in SIDES},
        queries={side: warm[side]["queries"] for side in SIDES},
        queries_range={side: (min(queries[side]), max(queries[side])) for side in SIDES},
        shapes={side: warm[side]["shapes"] for side in SIDES},
        db_ms={side: summarise(db[side]) for side in SIDES},
        total_ms={side: summarise(total[side]) for side in SIDES},
        time_verdict=verdict(total["base"], total["head"]),
        db_verdict=verdict(db["base"], db["head"]),
        payload=payload,
        hashes=hashes,
        difference=difference,
        volatile=volatile,
        findings_added=[f for k, f in head_findings.items() if k not in base_findings],
        findings_removed=[f for k, f in base_findings.items() if k not in head_findings],
        findings={"base": warm["base"]["findings"], "head": warm["head"]["findings"]},
        samples={side: list(total[side]) for side in SIDES},
        payload_note=note,
        data_hashes=data_hashes,
        split={side: _split(timed[side]) for side in SIDES},
        middleware={
            side: median_report([r.get("middleware", []) for r in timed[side]]) for side in SIDES
        },
    )


def _split(runs: list[dict[str, Any]]) -> dict[str, Summary]:
    """Medians of the cache, HTTP and CPU milliseconds (CPU only where measured)."""
    split = {}
    for axis in ("cache_ms", "http_ms", "cpu_ms"):
        values = [r[axis] for r in runs if r.get(axis) is not None]
        if values:
            split[axis] = summarise(values)
    return split

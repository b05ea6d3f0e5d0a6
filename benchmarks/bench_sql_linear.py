"""SQL shaping is linear in the statement's length, for every known pathological family.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sql_linear.py [--rounds N] [--sizes 1000,10000,...]

Each *family* builds a statement of a given length (1k to 1M characters by
default) that once made the tokenizer or the clause extraction quadratic:

* ``parens``: nested parentheses (each ``)`` copied its group);
* ``comments``: an unclosed ``/*`` repeated (each rescanned the rest);
* ``dollars``: distinct unclosed ``$tag$`` quotes (likewise);
* ``subqueries``: nested ``(SELECT (SELECT …))`` (each marked its span);
* ``aggregates``: nested ``COUNT(COUNT(…))`` (each copied its argument);
* ``or-chains``: nested ``(a = 1 OR (a = 1 OR …))`` groups;
* ``in-lists``: nested ``IN (x IN (…), ?, ?)`` lists;

and the baseline, ``plain``: a long ``WHERE c0 = %s AND c1 = %s …``, the
shape of ordinary long SQL, built to the same length.

What is timed is ``perfaudit.sql.shape._analyze`` (tokenize, collapse,
render, extract: the uncached, *uncapped* work), so the growth is the
algorithm's; ``analyze()`` itself stops reading at ``MAX_STATEMENT_CHARS``
(its time at the largest size is printed last). Every round times every
(family, size) once, in an order rotated from round to round; a warm-up round
is discarded; GC is off during each timing.

Reported per family and size: nanoseconds per character, *median (min–max)*
over rounds; the ratio to ``plain`` of the same size *in the same round*; the
growth of the per-character cost from the smallest to the largest size.

Targets (exit 1 when one is missed), for every family: its growth is at
most 3x the baseline's growth over the same sizes (memory effects make even
``plain`` grow a little; a quadratic family grows 1000x from 1k to 1M), and
at the largest size it costs at most 10x the baseline per character.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perfaudit.sql.shape import MAX_STATEMENT_CHARS, _analyze, analyze


def _repeat(unit: str, close: str, n: int, head: str = "SELECT ", tail: str = "") -> str:
    count = max(1, (n - len(head) - len(tail)) // (len(unit) + len(close)))
    return head + unit * count + "1" + close * count + tail


FAMILIES: dict[str, Callable[[int], str]] = {
    "plain": lambda n: (
        "SELECT a FROM t WHERE " + " AND ".join(f"c{i} = %s" for i in range(max(1, n // 12)))
    ),
    "parens": lambda n: _repeat("(", ")", n),
    "comments": lambda n: "SELECT 1 " + "/* " * max(1, (n - 9) // 3),
    "dollars": lambda n: "SELECT " + "".join(f"$t{i}$ " for i in range(max(1, n // 10))),
    "subqueries": lambda n: _repeat("(SELECT ", ")", n),
    "aggregates": lambda n: _repeat("COUNT(", ")", n, tail=" FROM t"),
    "or-chains": lambda n: _repeat("(a = 1 OR ", ")", n, head="SELECT * FROM t WHERE "),
    "in-lists": lambda n: _repeat(
        "x IN (", ", %s, %s)", n, head="SELECT * FROM t WHERE a IN (", tail=")"
    ),
}
BASELINE = "plain"


def _time(sql: str) -> float:
    gc.collect()
    gc.disable()
    try:
        started = perf_counter()
        _analyze(sql)
        return perf_counter() - started
    finally:
        gc.enable()


def run(rounds: int, sizes: list[int]) -> bool:
    statements = {(f, n): FAMILIES[f](n) for f in FAMILIES for n in sizes}
    keys = list(statements)
    times: dict[tuple[str, int], list[float]] = {key: [] for key in keys}
    for number in range(rounds + 1):
        shift = number % len(keys)
        for key in keys[shift:] + keys[:shift]:
            elapsed = _time(statements[key])
            if number:  # round 0 is a warm-up
                times[key].append(elapsed)

    def per_char(key: tuple[str, int]) -> list[float]:
        return [t / len(statements[key]) * 1e9 for t in times[key]]

    print(f"perfaudit SQL linearity: _analyze() over {rounds} rounds (+1 warm-up)")
    print("ns per character, median (min–max); x plain: per-round ratio to the baseline")
    header = f"{'family':<12}" + "".join(f"{n:>26,}" for n in sizes) + f"{'growth':>10}"
    print(header)
    print("-" * len(header))
    met = True
    base_growth = min(per_char((BASELINE, sizes[-1]))) / min(per_char((BASELINE, sizes[0])))
    for family in FAMILIES:
        cells = []
        for n in sizes:
            values = per_char((family, n))
            cell = f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"
            if family != BASELINE:
                ratios = [
                    a / b for a, b in zip(times[(family, n)], times[(BASELINE, n)], strict=True)
                ]
                cell += f" {statistics.median(ratios):.1f}x"
            cells.append(cell)
        growth = min(per_char((family, sizes[-1]))) / min(per_char((family, sizes[0])))
        print(f"{family:<12}" + "".join(f"{c:>26}" for c in cells) + f"{growth:>9.2f}x")
        last_ratio = statistics.median(
            a / b
            for a, b in zip(times[(family, sizes[-1])], times[(BASELINE, sizes[-1])], strict=True)
        )
        if growth > 3 * max(base_growth, 1.0) or last_ratio > 10:
            met = False
    print("-" * len(header))
    largest = max(statements.values(), key=len)
    analyze.cache_clear()
    started = perf_counter()
    shape = analyze(largest)
    capped = perf_counter() - started
    print(
        f"analyze() on {len(largest):,} characters: {capped * 1000:.1f} ms "
        f"(reads {MAX_STATEMENT_CHARS:,}; truncated={shape.truncated})"
    )
    print(
        f"targets: growth <= 3x plain's ({base_growth:.2f}x), and <= 10x plain per "
        f"character at the largest size: {'MET' if met else 'NOT MET'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    return 0 if run(args.rounds, sizes) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Timing statistics for compare: medians, spread, and a rank-test verdict.

Rounds of the two refs are interleaved (base, head, base, head, …) so slow
drift of the machine hits both sides alike; the verdict then treats them as
two independent samples. It follows asv's rule: a change is reported only when
a two-sided Mann–Whitney U test gives p < ``alpha`` (default 0.002) *and* the
ratio of medians moves by at least ``factor`` (default 1.1) — otherwise it is
"within noise". The exact U distribution is used for small samples without
ties, the normal approximation with tie correction otherwise. Pure Python, no
SciPy: this runs inside the user's environment.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = ["ALPHA", "FACTOR", "Summary", "Verdict", "mann_whitney_u", "summarise", "verdict"]

ALPHA: Final = 0.002
FACTOR: Final = 1.1
_EXACT_LIMIT: Final = 50  # exact distribution when both samples are at most this large


@dataclass(frozen=True, slots=True)
class Summary:
    """Median with the min–max spread of one side's samples."""

    median: float
    low: float
    high: float
    n: int


def summarise(samples: Sequence[float]) -> Summary:
    if not samples:
        raise ValueError("no samples to summarise")
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))


@dataclass(frozen=True, slots=True)
class Verdict:
    """``change`` is ``faster``, ``slower`` or ``within noise``."""

    change: str
    ratio: float  # median(head) / median(base)
    p_value: float
    alpha: float
    factor: float

    def __str__(self) -> str:
        if self.change == "within noise":
            return f"within noise ({self.ratio:.2f}×, p={self.p_value:.3g})"
        return f"{self.change}: {self.ratio:.2f}× (p={self.p_value:.3g})"


def verdict(
    base: Sequence[float],
    head: Sequence[float],
    *,
    alpha: float = ALPHA,
    factor: float = FACTOR,
) -> Verdict:
    """Compare head against base; both need at least one sample."""
    base_median, head_median = statistics.median(base), statistics.median(head)
    ratio = head_median / base_median if base_median > 0 else math.inf
    p_value = mann_whitney_u(base, head)
    change = "within noise"
    if p_value < alpha:
        if ratio <= 1 / factor:
            change = "faster"
        elif ratio >= factor:
            change = "slower"
    return Verdict(change, ratio, p_value, alpha, factor)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann–Whitney U test of ``a`` against ``b``."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks, tie_sizes = _ranks([*a, *b])
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2
    u = min(u1, n1 * n2 - u1)
    has_ties = any(size > 1 for size in tie_sizes)
    if not has_ties and max(n1, n2) <= _EXACT_LIMIT:
        return min(1.0, 2 * _exact_cdf(int(u), n1, n2))
    mean = n1 * n2 / 2
    n = n1 + n2
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0  # every value equal: no evidence of any difference
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def _ranks(values: list[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) and the sizes of tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    tie_sizes = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = average
        tie_sizes.append(j - i + 1)
        i = j + 1
    return ranks, tie_sizes


def _exact_cdf(u: int, n1: int, n2: int) -> float:
    """P(U <= u) under the null hypothesis, from the exact distribution."""
    counts = _u_counts(min(n1, n2), max(n1, n2))
    return sum(counts[: u + 1]) / math.comb(n1 + n2, n1)


@lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many arrangements give each U value (U from 0 to m*n), by recursion on n."""
    # f[j][u]: arrangements of m x's among j y's... built with the classic
    # recurrence N(m, n, u) = N(m - 1, n, u - n) + N(m, n - 1, u).
    table = [[1] + [0] * (m * n) for _ in range(m + 1)]  # n' = 0: only U = 0
    for n_prime in range(1, n + 1):
        new = [[0] * (m * n + 1) for _ in range(m + 1)]
        for m_prime in range(m + 1):
            for u in range(m_prime * n_prime + 1):
                total = table[m_prime][u]  # last element is a y
                if m_prime and u >= n_prime:
                    total += new[m_prime - 1][u - n_prime]  # last element is an x
                new[m_prime][u] = total
        table = new
    return tuple(table[m])

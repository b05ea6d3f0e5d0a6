"""Timing statistics of compare: the rank test and the verdict."""

from __future__ import annotations

import math
import random

import pytest

from perfaudit.compare.stats import mann_whitney_u, summarise, verdict


def test_fully_separated_samples_have_the_exact_smallest_p_value() -> None:
    base = [float(i) for i in range(10)]
    head = [float(i) + 100 for i in range(10)]
    assert mann_whitney_u(base, head) == pytest.approx(2 / math.comb(20, 10))
    assert mann_whitney_u(head, base) == pytest.approx(2 / math.comb(20, 10))


def test_identical_samples_show_no_difference() -> None:
    assert mann_whitney_u([1.0] * 8, [1.0] * 8) == 1.0
    same = [0.1, 0.2, 0.3, 0.4]
    assert mann_whitney_u(same, same) == pytest.approx(1.0)


def test_agrees_with_scipy_when_available() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for _ in range(50):
        a = [rng.random() for _ in range(rng.randint(2, 14))]
        b = [rng.random() + rng.choice([0.0, 0.4]) for _ in range(rng.randint(2, 14))]
        exact = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
        assert mann_whitney_u(a, b) == pytest.approx(exact.pvalue)
        tied_a, tied_b = [round(x, 1) for x in a], [round(x, 1) for x in b]
        if len(set(tied_a + tied_b)) < len(tied_a + tied_b):
            approx = scipy_stats.mannwhitneyu(tied_a, tied_b, method="asymptotic")
            assert mann_whitney_u(tied_a, tied_b) == pytest.approx(approx.pvalue)


def test_verdicts() -> None:
    rng = random.Random(3)
    base = [1.0 + rng.random() * 0.05 for _ in range(15)]
    faster = [0.1 + rng.random() * 0.005 for _ in range(15)]
    assert verdict(base, faster).change == "faster"
    assert verdict(faster, base).change == "slower"
    assert verdict(base, faster).ratio == pytest.approx(
        summarise(faster).median / summarise(base).median
    )
    # Significant but smaller than the 1.1 factor: within noise.
    slightly = [x * 1.05 for x in base]
    shifted = verdict(base, [x + 0.06 for x in base])
    assert shifted.p_value < 0.002
    assert verdict(base, slightly).change == "within noise"
    # Big ratio but too few samples to be significant: within noise.
    assert verdict([1.0, 1.2], [0.1, 0.12]).change == "within noise"
    assert "within noise" in str(verdict([1.0, 1.2], [0.1, 0.12]))


def test_summary() -> None:
    s = summarise([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.n) == (2.0, 1.0, 3.0, 3)
    with pytest.raises(ValueError, match="no samples"):
        summarise([])

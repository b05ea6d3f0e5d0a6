"""Compare's wording: verdicts that read as what they mean, changes only when they happened."""

from __future__ import annotations

from perfaudit.compare.report import _finding_change, _time
from perfaudit.compare.stats import Verdict


def test_a_change_that_does_not_count_says_why() -> None:
    noisy = Verdict("within noise", 1 / 3.67, 0.0052, 0.002, 1.1)
    assert _time(noisy) == "no significant change (median 3.67× faster, p = 0.0052 ≥ 0.002)"
    small = Verdict("within noise", 1 / 1.05, 1e-5, 0.002, 1.1)
    assert _time(small) == "no significant change (median 1.05× faster, below the 1.1× threshold)"
    real = Verdict("faster", 1 / 3.36, 1.1e-5, 0.002, 1.1)
    assert _time(real) == "3.36× faster (p = 1.1e-05 < 0.002)"
    assert "within noise" not in _time(noisy)


def test_finding_changes_are_shown_only_when_there_are_some() -> None:
    assert _finding_change(0, 0) == "no change"
    assert _finding_change(12, 0) == "−12"
    assert _finding_change(0, 1) == "+1"
    assert _finding_change(3, 1) == "−3 / +1"

"""Compare's wording: verdicts that read as what they mean, changes only when they happened."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_plot_is_drawn_from_the_rounds(tmp_path: Path) -> None:
    from perfaudit.compare.git import Worktree
    from perfaudit.compare.plot import PlotError, plot
    from perfaudit.compare.report import as_markdown
    from perfaudit.compare.session import Comparison, EndpointResult
    from perfaudit.compare.stats import summarise, verdict

    base, head = [30.0, 32.0, 29.5, 31.0], [9.0, 9.5, 8.7, 10.2]
    endpoint = EndpointResult(
        scenario="books",
        label="GET /books/",
        status={"base": 200, "head": 200},
        expected={"base": True, "head": True},
        queries={"base": 9, "head": 1},
        queries_range={"base": (9, 9), "head": (1, 1)},
        shapes={"base": {}, "head": {}},
        db_ms={"base": summarise([3.0]), "head": summarise([1.0])},
        total_ms={"base": summarise(base), "head": summarise(head)},
        time_verdict=verdict(base, head),
        db_verdict=verdict([3.0], [1.0]),
        payload="identical",
        hashes={"base": "sha256:x", "head": "sha256:x"},
        difference=None,
        volatile=[],
        findings_added=[],
        findings_removed=[],
        samples={"base": base, "head": head},
    )
    base_tree = Worktree("base", "main", "0" * 40, tmp_path)
    head_tree = Worktree("head", "fast", "1" * 40, tmp_path)
    comparison = Comparison(base_tree, head_tree, 4, {}, 1.0, [endpoint])
    svg = plot(comparison, tmp_path / "times.svg")
    text = svg.read_text()
    assert text.startswith("<?xml")
    assert "books: GET /books/" in text
    png = plot(comparison, tmp_path / "times.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PlotError, match=r"use a \.svg or \.png"):
        plot(comparison, tmp_path / "times.gif")
    markdown = as_markdown(comparison, [], plot=tmp_path / "times.svg")
    assert f"![request times per round, base against head]({tmp_path}/times.svg)" in markdown

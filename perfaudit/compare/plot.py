"""``compare --plot FILE.svg|png``: each endpoint's request times, base against head.

One row per endpoint: every timed round as a dot, the median as a bar, base
above head, on a shared logarithmic axis (a 10× speed-up and a 10 % one are
both readable). Drawn with matplotlib, an optional extra
(``pip install 'perfaudit[plot]'``); it is imported only here, only when a
plot is asked for, with the non-interactive Agg backend.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Final

from perfaudit.compare.session import Comparison

__all__ = ["FORMATS", "PlotError", "plot"]

#: File types the plot can be written as, by suffix.
FORMATS: Final = (".svg", ".png")
_COLOURS: Final = {"base": "#7f8c8d", "head": "#2980b9"}


class PlotError(Exception):
    """The plot cannot be drawn (matplotlib missing, unknown suffix)."""


def plot(comparison: Comparison, path: Path) -> Path:
    """Write the timing plot of ``comparison`` to ``path`` (``.svg`` or ``.png``)."""
    if path.suffix.lower() not in FORMATS:
        raise PlotError(f"--plot {path}: use a .svg or .png file name.")
    try:
        import matplotlib
    except ImportError:
        raise PlotError(
            "--plot needs matplotlib: pip install 'perfaudit[plot]' (or drop --plot)."
        ) from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    endpoints = [e for e in comparison.endpoints if any(e.samples.get(s) for s in _COLOURS)]
    height = 1.3 + 0.55 * max(1, len(endpoints))
    figure, axes = pyplot.subplots(figsize=(8.5, height), layout="constrained")
    try:
        _draw(axes, comparison, endpoints)
        figure.savefig(path, dpi=110)
    finally:
        pyplot.close(figure)
    return path


def _draw(axes: Any, comparison: Comparison, endpoints: list[Any]) -> None:
    labels = []
    for row, endpoint in enumerate(reversed(endpoints)):
        for offset, side in ((0.17, "base"), (-0.17, "head")):
            samples = endpoint.samples.get(side) or []
            if not samples:
                continue
            y = row + offset
            axes.scatter(
                samples, [y] * len(samples), s=12, alpha=0.6, color=_COLOURS[side], zorder=2
            )
            median = statistics.median(samples)
            axes.plot([median, median], [y - 0.13, y + 0.13], color=_COLOURS[side], lw=2.5)
        labels.append(endpoint.name if len(endpoint.name) <= 48 else endpoint.name[:47] + "…")
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    # Plain numbers (not 2×10¹), and only 1-2-5 steps, so labels never crowd.
    plain = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "125" else "")
    axes.xaxis.set_major_formatter(plain)
    axes.xaxis.set_minor_formatter(plain)
    axes.tick_params(axis="x", which="both", labelsize=8)
    axes.set_xlabel("total ms per request (each dot a round; bar: median)")
    axes.grid(axis="x", which="both", alpha=0.25)
    for side, colour in _COLOURS.items():
        ref = comparison.base.ref if side == "base" else comparison.head.ref
        axes.scatter([], [], color=colour, label=f"{side}: {ref}")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    axes.set_title(
        f"perfaudit compare {comparison.base.ref} → {comparison.head.ref}, "
        f"{comparison.rounds} rounds",
        fontsize=9,
        pad=22,
    )

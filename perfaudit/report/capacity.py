"""``report --capacity``: what the recorded requests say about throughput.

From each view's recorded wall, CPU and DB time per request (means, each
request weighted by ``1 / sample_rate`` so files sampled at different rates
merge correctly):

* **one worker**: a synchronous worker serves one request at a time, so it
  serves ``1000 / wall ms`` requests per second of that view;
* **N workers**: ``N`` times that — the instance ceiling, if nothing else
  (CPU cores, the database, connection pools) saturates first; the CPU cores
  those workers keep busy at that rate are ``N × CPU ms / wall ms``;
* **at a target rate** ``R`` (the instance's total, split over the views by
  their share of recorded traffic): the database time spent per second
  (``R × DB ms``, i.e. the average number of busy database connections) and
  the requests in flight by Little's law (``L = λ × W``: ``R × wall ms``,
  the fewest workers that can carry that rate).

Every figure carries the measurement it was computed from, so a reader can
check it. CPU time comes from the line's ``cpu_ms`` when the middleware
recorded it; otherwise it is estimated as wall minus DB time, an upper bound
(waits on caches and HTTP calls count as CPU), and the figure says so. Views
with fewer than :data:`MIN_SAMPLE` recorded requests carry a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["MIN_SAMPLE", "CapacityModel", "Figure", "ViewLoad", "build_capacity"]

#: Below this many recorded requests a mean is flagged as rough.
MIN_SAMPLE: Final = 30


@dataclass(frozen=True, slots=True)
class Figure:
    """One number of the model and how it was obtained (``basis``, for people)."""

    name: str
    value: float
    unit: str
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "basis": self.basis,
        }


@dataclass
class ViewLoad:
    """The weighted sums of one view's requests (a weight is ``1 / sample_rate``)."""

    view: str
    requests: int = 0
    weight: float = 0.0
    wall: float = 0.0
    db: float = 0.0
    cpu: float = 0.0
    cpu_weight: float = 0.0
    cpu_estimated: float = 0.0

    def add(self, line: Mapping[str, Any]) -> None:
        rate = line.get("sample_rate")
        weight = 1.0 / rate if isinstance(rate, int | float) and 0 < rate <= 1 else 1.0
        self.requests += 1
        self.weight += weight
        self.wall += weight * float(line["total_ms"])
        self.db += weight * float(line["db_ms"])
        cpu = line.get("cpu_ms")
        if isinstance(cpu, int | float) and not isinstance(cpu, bool) and cpu >= 0:
            self.cpu += weight * float(cpu)
            self.cpu_weight += weight
        else:  # estimated per line: wall minus DB, an upper bound
            self.cpu_estimated += weight * max(float(line["total_ms"]) - float(line["db_ms"]), 0.0)

    @property
    def wall_ms(self) -> float:
        return self.wall / self.weight if self.weight else 0.0

    @property
    def db_ms(self) -> float:
        return self.db / self.weight if self.weight else 0.0

    @property
    def cpu_measured(self) -> bool:
        """Whether every request carried a CPU figure (else some are estimated)."""
        return self.weight > 0 and abs(self.cpu_weight - self.weight) < 1e-9

    @property
    def cpu_ms(self) -> float:
        """Mean CPU time: measured where the line has it, wall minus DB elsewhere."""
        return (self.cpu + self.cpu_estimated) / self.weight if self.weight else 0.0


@dataclass
class CapacityModel:
    """Per-view loads (busiest first) and the figures for ``workers`` and ``target_rps``."""

    workers: int
    target_rps: float | None
    views: list[ViewLoad] = field(default_factory=list)

    @property
    def weight(self) -> float:
        return sum(view.weight for view in self.views)

    def share(self, view: ViewLoad) -> float:
        """The view's fraction of the (sampling-weighted) recorded requests."""
        total = self.weight
        return view.weight / total if total else 0.0

    def mix(self) -> ViewLoad:
        """All views as one, in the recorded mix (the instance as a whole)."""
        mix = ViewLoad("all views (recorded mix)")
        for view in self.views:
            mix.requests += view.requests
            mix.weight += view.weight
            mix.wall += view.wall
            mix.db += view.db
            mix.cpu += view.cpu
            mix.cpu_weight += view.cpu_weight
            mix.cpu_estimated += view.cpu_estimated
        return mix

    def figures(self, view: ViewLoad, *, rate: float | None) -> list[Figure]:
        """The model's figures for ``view`` served at ``rate`` requests per second."""
        return list(_figures(view, self.workers, rate))

    def rate_of(self, view: ViewLoad) -> float | None:
        """The view's part of the target rate (``None`` without ``--target-rps``)."""
        if self.target_rps is None:
            return None
        return self.target_rps * self.share(view)

    def warnings(self, view: ViewLoad, *, total_rate: float | None = None) -> list[str]:
        """What makes the figures rough; with ``total_rate`` (the instance's
        whole rate, for the mix), also whether the workers can carry it."""
        notes = []
        if view.requests < MIN_SAMPLE:
            notes.append(
                f"only {view.requests} recorded request{'s' if view.requests != 1 else ''}: "
                f"a mean over fewer than {MIN_SAMPLE} is rough; record more before sizing on it"
            )
        if view.wall_ms <= 0:
            notes.append("no wall time recorded: throughput cannot be computed")
        elif total_rate is not None:
            ceiling = self.workers * 1000.0 / view.wall_ms
            if total_rate > ceiling:
                needed = math.ceil(total_rate * view.wall_ms / 1000.0)
                notes.append(
                    f"{total_rate:g} req/s is over the ceiling of {ceiling:.2f} req/s for "
                    f"{self.workers} worker{'s' if self.workers != 1 else ''}: it needs at "
                    f"least {needed} workers busy at once (Little's law), more for headroom"
                )
        return notes

    def to_dict(self) -> dict[str, Any]:
        def one(
            view: ViewLoad, rate: float | None, share: float, total: bool = False
        ) -> dict[str, Any]:
            return {
                "view": view.view,
                "requests": view.requests,
                "weighted_requests": round(view.weight, 3),
                "share": round(share, 4),
                "wall_ms_mean": round(view.wall_ms, 3),
                "db_ms_mean": round(view.db_ms, 3),
                "cpu_ms_mean": round(view.cpu_ms, 3),
                "cpu_source": "measured" if view.cpu_measured else "wall minus DB (upper bound)",
                "rate_rps": round(rate, 3) if rate is not None else None,
                "figures": [f.to_dict() for f in self.figures(view, rate=rate)],
                "warnings": self.warnings(view, total_rate=rate if total else None),
            }

        mix = self.mix()
        return {
            "workers": self.workers,
            "target_rps": self.target_rps,
            "min_sample": MIN_SAMPLE,
            "views": [one(v, self.rate_of(v), self.share(v)) for v in self.views],
            "total": one(mix, self.target_rps, 1.0 if self.views else 0.0, total=True),
        }


def build_capacity(
    lines: Iterable[Mapping[str, Any]], *, workers: int = 1, target_rps: float | None = None
) -> CapacityModel:
    """Aggregate validated request lines into a :class:`CapacityModel`."""
    model = CapacityModel(workers, target_rps)
    for _ in tap(lines, model):
        pass
    return finish(model)


def tap(lines: Iterable[Mapping[str, Any]], model: CapacityModel) -> Iterator[Mapping[str, Any]]:
    """Pass ``lines`` through unchanged while adding each to ``model`` (one read of
    the files serves both the inventory and the model); call :func:`finish` after."""
    loads: dict[str, ViewLoad] = {view.view: view for view in model.views}
    for line in lines:
        view = loads.get(line["view"])
        if view is None:
            view = loads[line["view"]] = ViewLoad(line["view"])
            model.views.append(view)
        view.add(line)
        yield line


def finish(model: CapacityModel) -> CapacityModel:
    """Order the views: most total wall time (the load they put on workers) first."""
    model.views.sort(key=lambda v: (-v.wall, v.view))
    return model


def _figures(view: ViewLoad, workers: int, rate: float | None) -> Iterator[Figure]:
    wall, db, cpu = view.wall_ms, view.db_ms, view.cpu_ms
    cpu_label = "CPU" if view.cpu_measured else "CPU (wall − DB, an upper bound)"
    if wall <= 0:
        return
    one = 1000.0 / wall
    yield Figure("worker_rps", one, "req/s", f"1000 / {wall:.1f} ms mean wall time per request")
    yield Figure(
        "instance_rps",
        workers * one,
        "req/s",
        f"{workers} worker{'s' if workers != 1 else ''} × {one:.2f} req/s",
    )
    yield Figure(
        "cores_at_ceiling",
        workers * cpu / wall,
        "cores",
        f"{workers} × {cpu:.1f} ms {cpu_label} / {wall:.1f} ms wall",
    )
    if rate is None:
        return
    yield Figure(
        "db_seconds_per_second",
        rate * db / 1000.0,
        "s/s",
        f"{rate:.2f} req/s × {db:.2f} ms mean DB time (= busy DB connections on average)",
    )
    yield Figure(
        "in_flight",
        rate * wall / 1000.0,
        "requests",
        f"Little's law: {rate:.2f} req/s × {wall:.1f} ms mean wall time",
    )
    yield Figure(
        "cores_at_target",
        rate * cpu / 1000.0,
        "cores",
        f"{rate:.2f} req/s × {cpu:.1f} ms {cpu_label}",
    )

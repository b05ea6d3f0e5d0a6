"""report --capacity: the throughput model, checked against figures computed by hand."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from perfaudit.report.capacity import MIN_SAMPLE, build_capacity
from perfaudit.web.jsonl import read_jsonl
from perfaudit.web.store import get_store


def _line(view: str, wall: float, db: float, **extra: Any) -> dict[str, Any]:
    return {"view": view, "queries": 1, "db_ms": db, "total_ms": wall, "shapes": [], **extra}


# view a: three requests, no CPU figure; view b: one request sampled at 0.5
# (it stands for two), with a measured CPU time.
SAMPLE = [
    _line("a", 100.0, 20.0),
    _line("a", 200.0, 40.0),
    _line("a", 300.0, 60.0),
    _line("b", 50.0, 10.0, cpu_ms=30.0, sample_rate=0.5),
]


def _figures(entry: dict[str, Any]) -> dict[str, float]:
    return {figure["name"]: figure["value"] for figure in entry["figures"]}


def run(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("perfaudit", "report", "--capacity", "--from", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in SAMPLE))
    return path


def test_figures_match_the_hand_computed_values(sample: Path) -> None:
    data = orjson.loads(run(sample, "--workers", "4", "--target-rps", "10", "--format", "json"))
    a, b = data["views"]
    # a: mean wall (100+200+300)/3 = 200 ms, DB 40 ms, CPU = wall - DB = 160 ms.
    assert (a["view"], a["wall_ms_mean"], a["db_ms_mean"], a["cpu_ms_mean"]) == ("a", 200, 40, 160)
    assert a["cpu_source"] == "wall minus DB (upper bound)"
    # Weights: a = 3 requests, b = 1 / 0.5 = 2; a's share 3/5, so 6 of the 10 req/s.
    assert (a["share"], a["rate_rps"]) == (0.6, 6.0)
    assert _figures(a) == {
        "worker_rps": 5.0,  # 1000 / 200
        "instance_rps": 20.0,  # 4 x 5
        "cores_at_ceiling": 3.2,  # 4 x 160 / 200
        "db_seconds_per_second": 0.24,  # 6 x 40 / 1000
        "in_flight": 1.2,  # 6 x 200 / 1000
        "cores_at_target": 0.96,  # 6 x 160 / 1000
    }
    assert (b["cpu_ms_mean"], b["cpu_source"], b["rate_rps"]) == (30, "measured", 4.0)
    assert _figures(b) == {
        "worker_rps": 20.0,  # 1000 / 50
        "instance_rps": 80.0,
        "cores_at_ceiling": 2.4,  # 4 x 30 / 50
        "db_seconds_per_second": 0.04,  # 4 x 10 / 1000
        "in_flight": 0.2,  # 4 x 50 / 1000
        "cores_at_target": 0.12,  # 4 x 30 / 1000
    }
    total = data["total"]
    # The mix: wall (3 x 200 + 2 x 50) / 5 = 140 ms, DB (3 x 40 + 2 x 10) / 5 = 28 ms,
    # CPU (3 x 160 + 2 x 30) / 5 = 108 ms.
    assert (total["wall_ms_mean"], total["db_ms_mean"], total["cpu_ms_mean"]) == (140, 28, 108)
    assert _figures(total) == pytest.approx(
        {
            "worker_rps": 1000 / 140,
            "instance_rps": 4000 / 140,
            "cores_at_ceiling": 4 * 108 / 140,
            "db_seconds_per_second": 0.28,
            "in_flight": 1.4,
            "cores_at_target": 1.08,
        },
        abs=1e-3,
    )
    assert a["warnings"] == [
        f"only 3 recorded requests: a mean over fewer than {MIN_SAMPLE} is rough; "
        "record more before sizing on it"
    ]


def test_text_gives_each_figure_with_its_measurement(sample: Path) -> None:
    text = run(sample, "--workers", "4", "--target-rps", "10")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == (
        "perfaudit report --capacity: 4 workers, target 10 req/s split by the recorded mix; "
        f"4 requests, 2 views from {sample}"
    )
    assert lines[2].startswith(
        "a  3 requests, 60% of traffic, 6.00 req/s at target; mean wall 200.0 ms"
    )
    assert lines[2].endswith("(CPU estimated as wall − DB where the file has no CPU figure)")
    rows = {line.split("  ")[0]: " ".join(line.split()) for line in lines[3:9]}
    assert rows == {
        "one worker": "one worker 5.00 req/s = 1000 / 200.0 ms mean wall time per request",
        "instance ceiling": "instance ceiling 20.00 req/s = 4 workers × 5.00 req/s",
        "CPU at the ceiling": "CPU at the ceiling 3.20 cores = 4 × 160.0 ms CPU "
        "(wall − DB, an upper bound) / 200.0 ms wall",
        "DB time at target": "DB time at target 0.24 s/s = 6.00 req/s × 40.00 ms mean DB time "
        "(= busy DB connections on average)",
        "in flight at target": "in flight at target 1.20 requests = Little's law: 6.00 req/s × "
        "200.0 ms mean wall time",
        "CPU at target": "CPU at target 0.96 cores = 6.00 req/s × 160.0 ms CPU "
        "(wall − DB, an upper bound)",
    }
    assert sum("! only 3 recorded requests" in line for line in lines) == 1
    assert "! only 1 recorded request: a mean" in text


def test_without_a_target_only_throughput_is_given(sample: Path) -> None:
    data = orjson.loads(run(sample, "--format", "json"))
    assert data["workers"] == 1
    assert set(_figures(data["views"][0])) == {"worker_rps", "instance_rps", "cores_at_ceiling"}
    markdown = run(sample, "--format", "markdown")
    assert markdown.startswith("# perfaudit report --capacity")
    assert (
        "| a | 3 | 60% | 200.0 | 40.0 | 160.0 (wall − DB) | one worker | 5.00 req/s |" in markdown
    )


def test_options_that_need_capacity_are_refused(sample: Path) -> None:
    out = StringIO()
    with pytest.raises(
        CommandError, match=r"^--workers and --target-rps only apply with --capacity\.$"
    ):
        call_command("perfaudit", "report", "--from", str(sample), "--workers", "2", stdout=out)
    with pytest.raises(CommandError, match=r"^--explain does not apply with --capacity\.$"):
        run(sample, "--explain", "1")


@pytest.mark.django_db
def test_a_recorded_sample_gives_the_figures_of_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "recorded.jsonl"
    get_store().clear()
    with override_settings(
        MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"],
        PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(path)},
    ):
        client = Client()
        for url in ["/mw/n/3/"] * 5 + ["/mw/books/"] * 2:
            assert client.get(url).status_code == 200
    get_store().clear()
    lines = [line for _, line in read_jsonl(path)]
    model = build_capacity(lines, workers=2, target_rps=7.0)
    data = orjson.loads(run(path, "--workers", "2", "--target-rps", "7", "--format", "json"))
    assert data == orjson.loads(orjson.dumps(model.to_dict()))
    (n,) = [v for v in data["views"] if v["view"] == "mw:n"]
    walls = [line["total_ms"] for line in lines if line["view"] == "mw:n"]
    dbs = [line["db_ms"] for line in lines if line["view"] == "mw:n"]
    wall, db = sum(walls) / 5, sum(dbs) / 5
    # The middleware measures each request's CPU time (a sync view): the model
    # uses it, and falls back on wall - DB only for lines without it.
    cpus = [line.get("cpu_ms") for line in lines if line["view"] == "mw:n"]
    assert all(isinstance(c, int | float) for c in cpus)
    cpu = sum(cpus) / 5
    assert n["share"] == pytest.approx(5 / 7, abs=1e-4)
    assert _figures(n) == pytest.approx(
        {
            "worker_rps": 1000 / wall,
            "instance_rps": 2000 / wall,
            "cores_at_ceiling": 2 * cpu / wall,
            "db_seconds_per_second": 5 * db / 1000,
            "in_flight": 5 * wall / 1000,
            "cores_at_target": 5 * cpu / 1000,
        },
        rel=1e-2,
        abs=1e-3,
    )


def test_a_target_over_the_ceiling_is_flagged_with_the_workers_it_needs(sample: Path) -> None:
    # The mix: 140 ms mean wall, so 4 workers carry 4000 / 140 = 28.57 req/s;
    # 50 req/s keeps 50 x 0.140 = 7 requests in flight: 7 workers at least.
    data = orjson.loads(run(sample, "--workers", "4", "--target-rps", "50", "--format", "json"))
    assert data["total"]["warnings"][-1] == (
        "50 req/s is over the ceiling of 28.57 req/s for 4 workers: it needs at least 7 "
        "workers busy at once (Little's law), more for headroom"
    )
    within = orjson.loads(run(sample, "--workers", "8", "--target-rps", "50", "--format", "json"))
    assert not [w for w in within["total"]["warnings"] if "ceiling" in w]
    assert "! 50 req/s is over the ceiling" in run(sample, "--workers", "4", "--target-rps", "50")

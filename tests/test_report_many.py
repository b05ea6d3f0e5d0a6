"""Many JSONL files (one per process or pod) merged by report --from; JSONL_MAX_BYTES rotation."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from perfaudit.web.jsonl import read_jsonl, write_jsonl
from perfaudit.web.record import RequestRecord
from perfaudit.web.store import get_store
from tests.factories import BookFactory

MIDDLEWARE = ["perfaudit.middleware.PerfAuditMiddleware"]
ROOT = Path(__file__).resolve().parent.parent


def _record(path: Path, urls: list[str], **perfaudit: Any) -> None:
    get_store().clear()
    with override_settings(
        MIDDLEWARE=MIDDLEWARE,
        PERFAUDIT={"JSONL_IN_TESTS": True, "JSONL_PATH": str(path), **perfaudit},
    ):
        client = Client()
        for url in urls:
            assert client.get(url).status_code == 200, url
    get_store().clear()


def report_json(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("perfaudit", "report", *args, "--format", "json", "--top", "0", stdout=out)
    data: dict[str, Any] = orjson.loads(out.getvalue())
    return data


PODS = {
    "pod-a": ["/mw/books/", "/mw/n/3/"],
    "pod-b": ["/mw/api/books/list/", "/mw/books/", "/mw/books/"],
    "pod-c": ["/mw/n/1/", "/mw/books/search/?title=x"],
}


@pytest.fixture
def pods(tmp_path: Path) -> dict[str, Path]:
    BookFactory.create_batch(4)
    files = {}
    for pod, urls in PODS.items():
        (tmp_path / pod).mkdir()
        files[pod] = tmp_path / pod / "perfaudit.jsonl"
        _record(files[pod], urls)
    return files


def _without_source(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "source"}


@pytest.mark.django_db
def test_three_files_merge_as_if_one_process_wrote_them(
    pods: dict[str, Path], tmp_path: Path
) -> None:
    together = tmp_path / "together.jsonl"
    together.write_bytes(b"".join(path.read_bytes() for path in pods.values()))

    merged = report_json("--from", *map(str, pods.values()))
    assert merged["requests"] == sum(len(urls) for urls in PODS.values())
    assert _without_source(merged) == _without_source(report_json("--from", str(together)))
    assert merged["source"] == f"3 files ({', '.join(map(str, pods.values()))})"
    views = {view["view"]: view["requests"] for view in merged["views"]}
    assert views == {"mw:books": 3, "mw:n": 2, "mw:api-book-list": 1, "mw:book-search": 1}


@pytest.mark.django_db
def test_globs_expand_sorted_and_a_file_named_twice_counts_once(
    pods: dict[str, Path], tmp_path: Path
) -> None:
    by_glob = report_json("--from", str(tmp_path / "pod-*" / "*.jsonl"), str(pods["pod-a"]))
    assert by_glob["source"] == f"3 files ({', '.join(map(str, sorted(pods.values())))})"
    assert by_glob["requests"] == 7
    repeated = report_json("--from", str(pods["pod-b"]), "--from", str(pods["pod-b"]))
    assert repeated["requests"] == len(PODS["pod-b"])


@pytest.mark.django_db
def test_a_glob_matching_nothing_or_a_bad_line_names_the_file(
    pods: dict[str, Path], tmp_path: Path
) -> None:
    pattern = str(tmp_path / "pod-*" / "*.jsnol")
    with pytest.raises(CommandError) as caught:
        report_json("--from", str(pods["pod-a"]), pattern)
    assert str(caught.value) == f"Cannot report on {pattern}: no file matches this pattern"
    with pods["pod-c"].open("ab") as handle:
        handle.write(b"{not json\n")
    with pytest.raises(CommandError) as caught:
        report_json("--from", str(tmp_path / "pod-*" / "*.jsonl"))
    assert str(caught.value).startswith(
        f"Cannot report on {pods['pod-c']}, line 3: not valid JSON"
    )


# -- rotation -----------------------------------------------------------------------------


def _record_line(n: int) -> RequestRecord:
    return RequestRecord(
        view=f"v{n}", method="GET", path=f"/r/{n}/", status=200, queries=n, db_ms=1.0, total_ms=2.0
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [line for _, line in read_jsonl(path)] if path.exists() else []


def test_rotation_keeps_one_backup_and_never_splits_a_line(tmp_path: Path) -> None:
    path = tmp_path / "perfaudit.jsonl"
    backup = tmp_path / "perfaudit.jsonl.1"
    size = len(orjson.dumps(_record_line(100).to_dict())) + 1
    max_bytes = 10 * size  # ten lines of this length per file
    for n in range(100, 125):
        assert write_jsonl(path, _record_line(n), params=False, max_bytes=max_bytes)
        assert path.stat().st_size <= max_bytes
    # 25 lines: the file was rotated twice; the first ten are gone, the next
    # ten in the backup, the last five in the file.
    assert [line["queries"] for line in _lines(backup)] == list(range(110, 120))
    assert [line["queries"] for line in _lines(path)] == list(range(120, 125))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perfaudit.jsonl", "perfaudit.jsonl.1"]


def test_a_line_larger_than_the_limit_is_still_written_once(tmp_path: Path) -> None:
    path = tmp_path / "perfaudit.jsonl"
    write_jsonl(path, _record_line(1), params=False, max_bytes=10)
    write_jsonl(path, _record_line(2), params=False, max_bytes=10)
    assert [line["queries"] for line in _lines(path)] == [2]
    assert [line["queries"] for line in _lines(tmp_path / "perfaudit.jsonl.1")] == [1]


_WRITER = """
import sys
from perfaudit.web.jsonl import write_jsonl
from perfaudit.web.record import RequestRecord
path, first, count, max_bytes = sys.argv[1], *map(int, sys.argv[2:])
for n in range(first, first + count):
    record = RequestRecord(
        view=f"v{n}", method="GET", path=f"/r/{n}/", status=200, queries=n, db_ms=1.0, total_ms=2.0
    )
    write_jsonl(path, record, params=False, max_bytes=max_bytes)
"""


def test_processes_rotating_at_once_leave_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "perfaudit.jsonl"
    line = len(orjson.dumps(_record_line(100_000).to_dict())) + 1
    max_bytes = 60 * line
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(path),
                str(100_000 + 1000 * i),
                "150",
                str(max_bytes),
            ],
            cwd=ROOT,
        )
        for i in range(4)
    ]
    for worker in workers:
        assert worker.wait(60) == 0
    current, backup = _lines(path), _lines(tmp_path / "perfaudit.jsonl.1")  # every line parses
    assert current
    assert backup
    numbers = [line["queries"] for line in backup + current]
    assert len(numbers) == len(set(numbers))  # no line written twice
    # Each writer's lines stay in order across the backup and the file.
    for i in range(4):
        mine = [n for n in numbers if 100_000 + 1000 * i <= n < 100_000 + 1000 * (i + 1)]
        assert mine == sorted(mine)
    # Writers that checked the size at the same moment may each add a line.
    assert path.stat().st_size <= max_bytes + 4 * line


@pytest.mark.django_db
def test_the_middleware_rotates_and_report_reads_the_backup_too(tmp_path: Path) -> None:
    path = tmp_path / "perfaudit.jsonl"
    _record(path, ["/mw/n/2/"] * 30, JSONL_MAX_BYTES=4096)
    backup = tmp_path / "perfaudit.jsonl.1"
    assert backup.exists()
    assert path.stat().st_size <= 4096
    kept = len(_lines(path)) + len(_lines(backup))
    assert kept < 30  # the oldest lines went with the first rotation
    with override_settings(PERFAUDIT={"JSONL_PATH": str(path)}):
        data = report_json()
    assert data["requests"] == kept
    assert data["source"] == f"2 files ({path}, {backup})"

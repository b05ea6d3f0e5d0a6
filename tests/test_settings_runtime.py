"""Settings the runtime would reject are check errors; the JSONL path never blocks a request."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from perfaudit.web import jsonl
from perfaudit.web.store import get_store


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class BadRepr2(float):
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


def _check_errors(perfaudit: Any) -> str:
    with override_settings(PERFAUDIT=perfaudit):
        with pytest.raises(SystemCheckError) as info:
            call_command("check")
    return str(info.value)


@pytest.mark.parametrize(
    ("perfaudit", "check_id", "words"),
    [
        ({"JSONL_PATH": "/tmp/requests\x00.jsonl"}, "E004", "NUL byte"),
        ({"JSONL_PATH": Path("/tmp/a\x00b")}, "E004", "NUL byte"),
        ({"SLOW_QUERY_MS": float("nan")}, "E004", "NaN"),
        ({"BUDGETS": {"v": {"db_ms": float("nan")}}}, "E004", "NaN"),
        ({"MAX_QUERIES": BadRepr()}, "E003", "whose repr() fails"),
        ({"SLOW_QUERY_MS": BadRepr2(-1.0)}, "E004", "SLOW_QUERY_MS"),
        ({"BUDGETS": {"v": {BadRepr(): 1}}}, "E004", "whose repr() fails"),
        ({BadRepr(): 1}, "E002", "whose repr() fails"),
        ({"JSONL_PATH": "/tmp"}, "E004", "not a regular file"),
    ],
)
def test_manage_py_check_rejects(perfaudit: dict[str, Any], check_id: str, words: str) -> None:
    message = _check_errors(perfaudit)
    assert f"perfaudit.{check_id}" in message
    assert words in message


def test_a_fifo_jsonl_path_is_a_check_error(tmp_path: Path) -> None:
    fifo = tmp_path / "requests.jsonl"
    os.mkfifo(fifo)
    assert "is not a regular file" in _check_errors({"JSONL_PATH": str(fifo)})


def _get_in_thread(url: str, timeout: float) -> bool:
    """Whether a request through the middleware finished within ``timeout`` seconds."""
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            assert Client().get(url).status_code == 200
        except BaseException as exc:  # reported by the test thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    finished = done.wait(timeout)
    if failure:
        raise failure[0]
    return finished


@pytest.mark.django_db(transaction=True)
def test_a_fifo_jsonl_path_never_blocks_a_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "requests.jsonl"
    os.mkfifo(fifo)
    monkeypatch.setattr(jsonl, "_jsonl_failures", {})
    caplog.set_level(logging.WARNING, logger="perfaudit")
    settings = {"JSONL_PATH": str(fifo), "HEADERS": True, "JSONL_IN_TESTS": True}
    try:
        with override_settings(
            MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"], PERFAUDIT=settings
        ):
            # No reader: a blocking open() would wait for one forever.
            assert _get_in_thread("/mw/books/", timeout=20)
            # A reader: the open succeeds, and the FIFO is refused as not a regular file.
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                assert _get_in_thread("/mw/books/", timeout=20)
                assert os.read(reader, 100) == b""  # nothing was written into it
            finally:
                os.close(reader)
    finally:
        # Release a writer blocked on the FIFO (today's main), so the thread ends.
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        get_store().clear()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if str(fifo) in w]) == 2  # ENXIO, then not a regular file
    assert all("at most once a minute" in w for w in warnings)


@pytest.mark.django_db
def test_a_nul_byte_path_at_run_time_is_logged_once_per_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "_jsonl_failures", {})
    caplog.set_level(logging.DEBUG, logger="perfaudit")
    # Not through PERFAUDIT (the accessor falls back to the default for an invalid
    # value): the writer itself must survive such a path.
    with override_settings(MIDDLEWARE=["perfaudit.middleware.PerfAuditMiddleware"]):
        client = Client()
        clock = [1000.0]
        monkeypatch.setattr(jsonl.time, "monotonic", lambda: clock[0])
        from tests.test_store import _record

        for _ in range(5):
            assert not jsonl.write_jsonl("/tmp/a\x00b", _record(), params=False)
        clock[0] += jsonl.LOG_EVERY
        assert not jsonl.write_jsonl("/tmp/a\x00b", _record(), params=False)
        assert client.get("/mw/books/").status_code == 200
    logged = [r for r in caplog.records if r.name == "perfaudit" and "a\\x00b" in r.getMessage()]
    assert len(logged) == 2
    assert not any(r.exc_info for r in caplog.records)

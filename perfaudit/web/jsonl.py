"""The JSONL file: one line per recorded request, written and read here.

Writing (:func:`write_jsonl`) happens after the response was sent (see
:mod:`perfaudit.web.deferred`): one ``orjson`` encode and one ``write()``.
Reading (:func:`read_jsonl`) is for ``report``: every line is validated, and a
bad one is reported with its number.

The line format (version :data:`FORMAT_VERSION`) is documented in
docs/middleware.md.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Final

import orjson

try:  # POSIX; elsewhere rotation runs without the cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from perfaudit.web.record import FORMAT_VERSION, ORJSON_OPTIONS, RequestRecord, param_default

__all__ = [
    "FROM_SETTINGS",
    "JsonlError",
    "jsonl_line",
    "read_jsonl",
    "rotate_if_full",
    "write_jsonl",
]

logger = logging.getLogger("perfaudit")

# When each failure (path, error) was last logged: a persistent failure is
# logged once per LOG_EVERY seconds, never once per request.
LOG_EVERY: Final = 60.0
_failures_lock = threading.Lock()
_jsonl_failures: dict[tuple[str, str], float] = {}
_OPEN_FLAGS: Final = (
    os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
)


class _FromSettings:
    """Marker: read ``JSONL_MAX_BYTES`` from the settings (the middleware's case)."""


FROM_SETTINGS: Final = _FromSettings()


def jsonl_line(record: RequestRecord, *, params: bool = False, dropped: int = 0) -> bytes:
    """One JSONL line (newline included) for ``record``.

    ``dropped`` (written only when not 0): requests of this process whose
    reporting was dropped since its previous line, so ``report`` can say so.
    """
    data = record.to_dict(params=params)
    if dropped:
        data["dropped"] = dropped
    return orjson.dumps(
        data,
        default=param_default,
        option=ORJSON_OPTIONS | orjson.OPT_APPEND_NEWLINE,
    )


def write_jsonl(
    path: str | os.PathLike[str],
    record: RequestRecord,
    *,
    params: bool,
    dropped: int = 0,
    max_bytes: int | _FromSettings | None = FROM_SETTINGS,
) -> bool:
    """Append ``record`` to ``path``; False (and a warning, at most once a minute per
    path and error) on failure. Never raises, never blocks on the path.

    The line is written with a single ``write()`` on a file opened with
    ``O_APPEND``, so lines from several threads or worker processes never
    interleave; no lock is held, since ``open()`` and ``write()`` may wait
    on the file system. The file is opened with ``O_NONBLOCK`` and must be a
    regular file: a FIFO or a device would otherwise block the request (and
    with a lock, every request). A new file is created readable by its owner
    only: with ``JSONL_PARAMS`` it holds parameter values. With ``max_bytes``
    (default: ``PERFAUDIT["JSONL_MAX_BYTES"]``) a line that would take the file
    past that size first rotates it (:func:`rotate_if_full`).
    """
    line = jsonl_line(record, params=params, dropped=dropped)
    if isinstance(max_bytes, _FromSettings):
        max_bytes = _max_bytes_setting()
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _NotRegular(f"{os.fspath(path)!r} is not a regular file")
            if max_bytes is not None:
                fd = rotate_if_full(path, fd, len(line), max_bytes)
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, ValueError, TypeError) as exc:  # ValueError: a NUL byte in the path
        _warn(path, exc)
        return False
    return True


class _NotRegular(OSError):
    """The JSONL path is a FIFO, a device or a directory."""


def _warn(path: str | os.PathLike[str], exc: BaseException) -> None:
    name = os.fspath(path) if isinstance(path, str | os.PathLike) else repr(path)
    key = (str(name), type(exc).__name__)
    now = time.monotonic()
    with _failures_lock:
        last = _jsonl_failures.get(key)
        if last is not None and now - last < LOG_EVERY:
            return
        _jsonl_failures[key] = now
    logger.warning(
        "cannot append to PERFAUDIT['JSONL_PATH'] %r (%s); requests are not "
        "written there until the error goes away (logged at most once a minute)",
        name,
        exc,
    )


# -- rotation ------------------------------------------------------------------


def _max_bytes_setting() -> int | None:
    from perfaudit.conf import app_settings

    return app_settings.JSONL_MAX_BYTES


def rotate_if_full(path: str | os.PathLike[str], fd: int, incoming: int, max_bytes: int) -> int:
    """The descriptor to append ``incoming`` bytes to, rotating ``path`` first if full.

    When the open file already holds data and ``incoming`` more bytes would
    take it past ``max_bytes``, it is renamed to ``<path>.1`` (replacing the
    previous backup: one backup is kept, so the disk holds at most about twice
    ``max_bytes``) and a new, empty file is opened in its place.

    Several worker processes may decide to rotate at once. The rename happens
    under an exclusive ``flock`` on the full file, taken without waiting, and
    only if ``path`` still names that file: exactly one process renames it.
    A process that finds the lock taken does not wait for it (a request never
    blocks on another's rotation): it appends to the file it has open, and its
    line lands, whole, in what becomes the backup. ``fd`` is closed when it is
    replaced.
    """
    size = os.fstat(fd).st_size
    if size == 0 or size + incoming <= max_bytes:
        return fd
    name = os.fspath(path)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fd  # another process is rotating this very file
    try:
        try:
            same = os.stat(name).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False  # another process renamed it already
        if same:
            os.replace(name, name + ".1")
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    new_fd = os.open(path, _OPEN_FLAGS, 0o600)
    os.close(fd)
    return new_fd


# -- reading ------------------------------------------------------------------


class JsonlError(ValueError):
    """A JSONL file that cannot be read, with the line number at fault (0: the file)."""

    def __init__(self, path: str, lineno: int, reason: str) -> None:
        self.path = path
        self.lineno = lineno
        self.reason = reason
        where = f"{path}, line {lineno}" if lineno else path
        super().__init__(f"{where}: {reason}")


# What each line must hold, and of which type: enough for the report not to
# fail half-way on a line from another program or a truncated write.
_REQUIRED: Final[Mapping[str, type | tuple[type, ...]]] = {
    "view": str,
    "queries": int,
    "db_ms": (int, float),
    "total_ms": (int, float),
    "shapes": list,
}
_SHAPE_REQUIRED: Final[Mapping[str, type | tuple[type, ...]]] = {
    "fingerprint": str,
    "count": int,
    "db_ms": (int, float),
    "sql": str,
}


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, request dict)`` for each non-blank line of ``path``.

    Raises :class:`JsonlError` naming the file, or the first bad line and
    what is wrong with it.
    """
    name = os.fspath(path)
    try:
        # O_NONBLOCK: a FIFO must not hang the report; only regular files are read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise JsonlError(name, 0, "no such file") from None
    except OSError as exc:
        raise JsonlError(name, 0, f"cannot be read ({exc.strerror or exc})") from None
    except ValueError:
        raise JsonlError(name, 0, "not a usable path (it holds a NUL byte)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise JsonlError(name, 0, "not a regular file")
    os.set_blocking(fd, True)
    with open(fd, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise JsonlError(name, lineno, f"not valid JSON ({exc})") from None
            problem = _problem(data)
            if problem is not None:
                raise JsonlError(name, lineno, f"not a perfaudit request line: {problem}")
            yield lineno, data


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    version = data.get("v", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        return f"format version {version!r} is not a whole number"
    if version > FORMAT_VERSION:
        return (
            f"format version {version!r} is newer than this perfaudit reads "
            f"({FORMAT_VERSION}); upgrade perfaudit"
        )
    for key, types in _REQUIRED.items():
        if not isinstance(data.get(key), types) or isinstance(data.get(key), bool):
            return f"{key!r} is missing or not a {_type_name(types)}"
    for index, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            return f"shapes[{index}] is not an object"
        for key, types in _SHAPE_REQUIRED.items():
            if not isinstance(shape.get(key), types):
                return f"shapes[{index}][{key!r}] is missing or not a {_type_name(types)}"
    findings = data.get("findings", [])
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        return "'findings' is not a list of objects"
    return None


def _type_name(types: type | tuple[type, ...]) -> str:
    if isinstance(types, tuple):
        return "number"
    return {"str": "string", "int": "whole number", "list": "list"}.get(
        types.__name__, types.__name__
    )

"""Named payload snapshots kept beside the test module, for review in PRs.

``tests/test_events.py`` gets ``tests/__perfaudit__/test_events.json``: one
entry per snapshot name (payload hash over status, content type and
canonical body; the body hash; status; content type; kind; query count), keys
sorted so diffs stay small; and, per name, the canonical payload itself
(``__perfaudit__/test_events/<name>.json``, pretty-printed) so that a
behaviour change shows up in the pull request and a mismatch can name the
first differing path.

Snapshots are created on first use, compared afterwards, and rewritten only
on request (``PERFAUDIT_UPDATE=1`` or ``pytest --perfaudit-update``). Writes
take a file lock, so pytest-xdist workers sharing a module do not collide.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from perfaudit.payload import PayloadDigest, canonical_bytes, digest, first_difference
from perfaudit.payload._safe import shorten, shorten_pair
from perfaudit.text import plural

# unittest (and pytest for TestCase tests) leave this module's frames out of
# failure tracebacks, so a failure points at the test.
__unittest = True

__all__ = ["SnapshotResult", "check_payload_snapshot", "set_update", "update_requested"]

UPDATE_ENV: Final = "PERFAUDIT_UPDATE"
_update_flag = False


def set_update(value: bool) -> None:
    """Turn update mode on or off for this process (``--perfaudit-update``)."""
    global _update_flag
    _update_flag = value


def update_requested() -> bool:
    return _update_flag or os.environ.get(UPDATE_ENV, "").lower() not in ("", "0", "false", "no")


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """``status`` is ``created``, ``matched``, ``updated`` or ``mismatch``."""

    status: str
    name: str
    expected: str | None
    actual: str | None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"


def _paths(test_file: Path, name: str) -> tuple[Path, Path]:
    folder = test_file.parent / "__perfaudit__"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "snapshot"
    return folder / f"{test_file.stem}.json", folder / test_file.stem / f"{safe}.json"


@contextlib.contextmanager
def _locked(index: Path) -> Iterator[None]:
    """An exclusive lock per index file, kept outside the user's tree."""
    key = hashlib.sha1(str(index.resolve()).encode(), usedforsecurity=False).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"perfaudit-snapshot-{key}.lock"
    with open(lock_path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no cross-process lock
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_index(index: Path) -> dict[str, Any]:
    if not index.exists():
        return {}
    try:
        data = orjson.loads(index.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(
            f"{index} is not valid JSON ({exc}); fix or delete it, then rerun with {UPDATE_ENV}=1."
        ) from exc
    return data if isinstance(data, dict) else {}


def _dump(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def check_payload_snapshot(
    test_file: str | Path,
    name: str,
    response: object,
    *,
    queries: int | None = None,
    ignore: str | Iterable[str] = (),
) -> SnapshotResult:
    """Compare ``response``'s canonical payload with the snapshot ``name``."""
    __tracebackhide__ = True  # failures point at the test, not here
    test_file = Path(test_file)
    index_path, payload_path = _paths(test_file, name)
    result = digest(response, ignore=ignore)
    if result.canonical is None:
        return SnapshotResult(
            "mismatch",
            name,
            None,
            None,
            f"Payload snapshot {name!r}: the response cannot be hashed ({result.note}).",
        )
    actual = str(result.hash)
    with _locked(index_path):
        index = _read_index(index_path)
        entry = index.get(name)
        if entry is not None and not update_requested():
            if _matches(entry, result):
                return SnapshotResult("matched", name, entry["hash"], actual)
            return _mismatch(name, entry, result, payload_path, response, ignore)

        index[name] = {
            "hash": actual,
            "body": result.canonical,
            "status": result.status,
            "content_type": result.content_type,
            "kind": result.kind,
            "queries": queries,
        }
        if result.kind == "json":
            body = orjson.loads(canonical_bytes(response, ignore=ignore))
            _write_atomically(payload_path, _dump(body))
        _write_atomically(index_path, _dump(index))
    status = "created" if entry is None else "updated"
    return SnapshotResult(status, name, entry.get("hash") if entry else None, actual)


def _matches(entry: dict[str, Any], result: PayloadDigest) -> bool:
    if "status" not in entry:
        # A snapshot written before status and content type were hashed: its
        # hash is the body's. Compare the body; an update adds the rest.
        return bool(entry.get("hash") == result.canonical)
    return bool(entry.get("hash") == result.hash)


def _mismatch(
    name: str,
    entry: dict[str, Any],
    result: PayloadDigest,
    payload_path: Path,
    response: object,
    ignore: str | Iterable[str],
) -> SnapshotResult:
    expected = str(entry.get("hash"))
    actual = str(result.hash)
    lines = [f"Payload of {name!r} changed: {expected} → {actual}."]
    for key, now in (("status", result.status), ("content_type", result.content_type)):
        if key in entry and entry[key] != now:
            lines.append(f"{key.replace('_', ' ').capitalize()}: {shorten_pair(entry[key], now)}.")
    if payload_path.exists():
        stored = orjson.loads(payload_path.read_bytes())
        difference = first_difference(stored, response, ignore=ignore)
        if difference is not None:
            lines.append(
                f"First difference at {difference.path}: snapshot {shorten(difference.left)}, "
                f"now {shorten(difference.right)} ({plural(difference.count, 'path')} differ)."
            )
    else:
        lines.append(f"(No stored payload at {payload_path} to name the first difference.)")
    lines.append(
        f"If the change is intended, rerun with `pytest --perfaudit-update` or "
        f"{UPDATE_ENV}=1 and review the snapshot diff."
    )
    return SnapshotResult("mismatch", name, expected, actual, "\n".join(lines))

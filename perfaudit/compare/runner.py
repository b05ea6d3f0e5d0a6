"""Start, drive and stop the per-ref child processes (see ``child.py``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import perfaudit
from perfaudit.compare.child import BOOTSTRAP
from perfaudit.compare.git import CompareError, Worktree

__all__ = ["Child", "ChildFailed", "child_paths"]

logger = logging.getLogger("perfaudit")

_PERFAUDIT_HOME = str(Path(perfaudit.__file__).resolve().parent.parent)


class ChildFailed(CompareError):
    """A child crashed or reported an error: exit status 2, one-line message."""


def child_paths(root: Path, tree: Path) -> list[str]:
    """``sys.path`` for a child: this process's entries inside the repository,
    moved into the worktree (so the ref's code is imported, never the checkout's)."""
    root = root.resolve()
    mapped: list[str] = []
    for entry in sys.path:
        path = Path(entry or os.getcwd()).resolve()
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        candidate = str(tree / relative)
        if candidate not in mapped:
            mapped.append(candidate)
    return mapped


class Child:
    """One ref's child process and its command channel."""

    def __init__(
        self,
        tree: Worktree,
        *,
        root: Path,
        cwd: Path,
        scenarios: list[str],
        log_dir: Path,
    ) -> None:
        self.tree = tree
        self.log_path = log_dir / f"{tree.label}.log"
        self.databases: dict[str, str] = {}
        self.ready: dict[str, Any] = {}
        self.failed = False
        relative = cwd.resolve().relative_to(root.resolve())
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env.update(
            PERFAUDIT_COMPARE_HOME=_PERFAUDIT_HOME,
            PERFAUDIT_COMPARE_FD=str(write_fd),
            PERFAUDIT_COMPARE_LABEL=tree.label,
            PERFAUDIT_COMPARE_PATHS=json.dumps(child_paths(root, tree.path)),
            PERFAUDIT_COMPARE_SCENARIOS=json.dumps(scenarios),
        )
        # PYTHONPATH entries inside the repository would import the checkout's code.
        env["PYTHONPATH"] = os.pathsep.join(
            p
            for p in env.get("PYTHONPATH", "").split(os.pathsep)
            if p and not _inside(Path(p), root)
        )
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP],
                cwd=tree.path / relative,
                env=env,
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                text=True,
            )
        finally:
            os.close(write_fd)
        self._channel = os.fdopen(read_fd, "r", encoding="utf-8")

    @property
    def label(self) -> str:
        return self.tree.label

    def receive_databases(self) -> None:
        """Read the child's first message: the test databases it is about to create."""
        message = self.receive()
        if message.get("event") != "databases":
            raise ChildFailed(self._failure(f"sent {message.get('event')!r} before its databases"))

    def receive(self) -> dict[str, Any]:
        line = self._channel.readline()
        if not line:
            self.process.wait()
            raise ChildFailed(self._failure(f"exited with status {self.process.returncode}"))
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise ChildFailed(self._failure("sent a line that is not JSON")) from None
        if message.get("event") == "databases":
            self.databases = {str(k): str(v) for k, v in dict(message["databases"]).items()}
        if message.get("event") == "error":
            # The child's traceback goes to its log, which the message points to.
            with contextlib.suppress(OSError, ValueError):
                self._log.write(str(message.get("traceback", "")).encode("utf-8", "replace"))
                self._log.flush()
            raise ChildFailed(self._failure(message.get("message", "failed")))
        if message.get("event") == "ready":
            self.ready = message
        return message

    def send(self, **command: Any) -> None:
        stdin = self.process.stdin
        if stdin is None or self.process.poll() is not None:
            raise ChildFailed(self._failure(f"exited with status {self.process.returncode}"))
        try:
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()
        except BrokenPipeError as exc:
            raise ChildFailed(self._failure("stopped reading commands")) from exc

    def stop(self, *, interrupted: bool = False, timeout: float = 30.0) -> None:
        """Quit (or, when interrupted, SIGTERM) and wait; kill as a last resort."""
        try:
            if self.process.poll() is None:
                if interrupted:
                    self.process.send_signal(signal.SIGTERM)
                else:
                    with contextlib.suppress(ChildFailed):
                        self.send(cmd="quit")
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            with contextlib.suppress(OSError):
                if self.process.stdin:
                    self.process.stdin.close()
            self._channel.close()
            self._log.close()
            if self.process.returncode != 0:
                _drop_leftovers(self.databases, self.tree.label, self.process.pid)

    def _failure(self, what: str) -> str:
        self.failed = True  # its log is kept: the message points to it
        detail = ""
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln]
            if lines:
                detail = f" Last log line: {lines[-1].strip()[:300]}"
        return (
            f"The {self.label} child ({self.tree.ref} @ {self.tree.commit[:10]}) {what}.{detail} "
            f"Full log: {self.log_path}"
        )


def _drop_leftovers(databases: dict[str, str], label: str, pid: int) -> None:
    """Drop the test databases of a child that died before dropping them itself.

    Only names carrying that child's unique suffix (``pa_<label>_<pid>``, see
    ``child.py``) are dropped: never a database the child did not name itself.
    """
    from django.db import connections

    suffix = f"pa_{label}_{pid}"
    for alias, name in databases.items():
        if alias not in connections or suffix not in Path(name).name:
            continue
        connection = connections[alias]
        creation: Any = connection.creation  # backend-specific methods below
        if connection.vendor == "sqlite":
            with contextlib.suppress(OSError):
                Path(name).unlink(missing_ok=True)
            continue
        # The killed child's server session may take a moment to end, and a
        # database in use cannot be dropped: a few tries.
        for attempt in range(10):
            try:
                creation._destroy_test_db(name, verbosity=0)
                break
            except Exception as exc:
                if "does not exist" in str(exc) or "doesn't exist" in str(exc):
                    break  # never created: the child died first
                if attempt == 9:
                    logger.warning(
                        "perfaudit compare could not drop the test database %r (%s); "
                        "drop it by hand.",
                        name,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                    )
                time.sleep(0.3)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True

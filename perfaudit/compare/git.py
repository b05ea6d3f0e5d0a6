"""Git plumbing for compare: resolve refs, check out detached worktrees.

Compare works on commits, never on the user's working tree: each ref is
checked out with ``git worktree add --detach`` under a temporary folder, and
removed (``worktree remove --force`` + ``worktree prune``) on exit, whatever
the exit. Refs are validated with ``rev-parse --verify REF^{commit}``; a ref
that starts with ``-`` is refused, so it can never be read as an option.

A run killed with SIGKILL cannot clean up, so each run records the folders it
owns where git keeps its worktrees (``<git dir>/perfaudit-compare/``, one
JSON file per run, with the owner's pid), and the next run removes those of
runs whose process is gone (:func:`clean_stale`): the worktrees, their
folders and git's entries for them. Only folders named ``perfaudit-compare-*``
that a record lists are ever removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CompareError",
    "Ownership",
    "Worktree",
    "clean_stale",
    "repo_root",
    "resolve_ref",
    "worktrees",
]

FOLDER_PREFIX = "perfaudit-compare-"


class CompareError(Exception):
    """A usage or set-up problem, reported as one line with exit status 2."""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise CompareError("git is not installed or not on PATH; install git first.") from exc


def repo_root(path: Path) -> Path:
    """The top folder of the git repository containing ``path``."""
    result = _git(["rev-parse", "--show-toplevel"], path)
    if result.returncode != 0:
        raise CompareError(
            f"{path} is not inside a git repository; run compare from your project's checkout."
        )
    return Path(result.stdout.strip())


def resolve_ref(root: Path, ref: str) -> str:
    """The commit id ``ref`` names, or a CompareError saying why not."""
    if not ref.strip():
        raise CompareError(f"Refusing the ref {ref!r}: it is empty; name a branch, tag or commit.")
    if ref.startswith("-"):
        raise CompareError(f"Refusing the ref {ref!r}: a git ref cannot start with '-'.")
    result = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if result.returncode != 0 or not result.stdout.strip():
        raise CompareError(
            f"Unknown git ref {ref!r} in {root}: not a branch, tag or commit "
            f"(check `git branch -a`, or `git fetch` it first)."
        )
    return result.stdout.strip()


@dataclass(frozen=True, slots=True)
class Worktree:
    label: str
    ref: str
    commit: str
    path: Path


class Ownership:
    """The record of the folders one run owns, kept in the repository's git dir."""

    def __init__(self, root: Path) -> None:
        self.directory = _records_dir(root)
        self.paths: list[str] = []
        self.file: Path | None = None

    def add(self, path: Path) -> None:
        """Record ``path`` (written at once: a SIGKILL may come any time after)."""
        self.paths.append(str(path))
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.file is None:
            self.file = self.directory / f"{path.name}.json"
        record = {"pid": os.getpid(), "host": socket.gethostname(), "paths": self.paths}
        partial = self.file.with_suffix(".tmp")
        partial.write_text(json.dumps(record))
        partial.replace(self.file)

    def release(self) -> None:
        if self.file is not None:
            self.file.unlink(missing_ok=True)


def _records_dir(root: Path) -> Path:
    result = _git(["rev-parse", "--git-common-dir"], root)
    common = Path(result.stdout.strip() or ".git")
    return (common if common.is_absolute() else root / common) / "perfaudit-compare"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


def clean_stale(root: Path) -> list[str]:
    """Remove what runs killed before their clean-up left; the folders removed."""
    directory = _records_dir(root)
    if not directory.is_dir():
        return []
    removed: list[str] = []
    for record_file in sorted(directory.glob("*.json")):
        try:
            record = json.loads(record_file.read_text())
            pid, host, paths = int(record["pid"]), str(record["host"]), list(record["paths"])
        except (OSError, ValueError, KeyError, TypeError):
            record_file.unlink(missing_ok=True)  # unreadable: a torn write of a dead run
            continue
        if host != socket.gethostname() or _alive(pid):
            continue
        owned = [Path(p) for p in paths if Path(p).name.startswith(FOLDER_PREFIX)]
        for tree in _worktree_paths(root):
            if any(_within(tree, folder) for folder in owned):
                _git(["worktree", "remove", "--force", str(tree)], root)
        for folder in owned:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
        record_file.unlink(missing_ok=True)
    _git(["worktree", "prune"], root)
    return removed


def _worktree_paths(root: Path) -> list[Path]:
    listing = _git(["worktree", "list", "--porcelain"], root).stdout
    return [
        Path(line[len("worktree ") :])
        for line in listing.splitlines()
        if line.startswith("worktree ")
    ]


def _within(path: Path, folder: Path) -> bool:
    with contextlib.suppress(ValueError):
        path.resolve().relative_to(folder.resolve())
        return True
    return False


@contextmanager
def worktrees(
    root: Path,
    refs: dict[str, str],
    *,
    keep: bool = False,
    ownership: Ownership | None = None,
) -> Iterator[dict[str, Worktree]]:
    """Check out each ``label -> ref`` as a detached worktree; remove them on exit.

    ``ownership`` records the folder before anything is checked out into it.
    """
    commits = {label: resolve_ref(root, ref) for label, ref in refs.items()}
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    if ownership is not None:
        ownership.add(folder)
    created: dict[str, Worktree] = {}
    try:
        for label, ref in refs.items():
            path = folder / label
            result = _git(["worktree", "add", "--detach", str(path), commits[label]], root)
            if result.returncode != 0:
                detail = result.stderr.strip() or result.stdout.strip()
                raise CompareError(f"git worktree add failed for {ref!r}: {detail}")
            created[label] = Worktree(label, ref, commits[label], path)
        yield created
    finally:
        if not keep:
            for tree in created.values():
                _git(["worktree", "remove", "--force", str(tree.path)], root)
            shutil.rmtree(folder, ignore_errors=True)
            _git(["worktree", "prune"], root)

"""Git plumbing for compare: resolve refs, check out detached worktrees.

Compare works on commits, never on the user's working tree: each ref is
checked out with ``git worktree add --detach`` under a temporary folder, and
removed (``worktree remove --force`` + ``worktree prune``) on exit, whatever
the exit. Refs are validated with ``rev-parse --verify REF^{commit}``; a ref
that starts with ``-`` is refused, so it can never be read as an option.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CompareError", "Worktree", "repo_root", "resolve_ref", "worktrees"]


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
    if not ref or ref.startswith("-"):
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


@contextmanager
def worktrees(
    root: Path, refs: dict[str, str], *, keep: bool = False
) -> Iterator[dict[str, Worktree]]:
    """Check out each ``label -> ref`` as a detached worktree; remove them on exit."""
    commits = {label: resolve_ref(root, ref) for label, ref in refs.items()}
    folder = Path(tempfile.mkdtemp(prefix="perfaudit-compare-"))
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

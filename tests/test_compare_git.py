"""Git refs and worktrees for compare, on temporary repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from perfaudit.compare.git import CompareError, repo_root, resolve_ref, worktrees


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "Dev")
    (root / "app.py").write_text("VERSION = 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    _git(root, "checkout", "-q", "-b", "feature")
    (root / "app.py").write_text("VERSION = 2\n")
    _git(root, "commit", "-q", "-am", "two")
    _git(root, "checkout", "-q", "main")
    return root


def test_repo_root_and_refs(repo: Path) -> None:
    (repo / "sub").mkdir()
    assert repo_root(repo / "sub") == repo
    assert resolve_ref(repo, "main") == _git(repo, "rev-parse", "main")
    assert resolve_ref(repo, "feature~1") == resolve_ref(repo, "main")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="is not inside a git repository"):
        repo_root(tmp_path)


@pytest.mark.parametrize("ref", ["nope", "--output=/tmp/x", "-main", ""])
def test_unknown_or_dangerous_refs_are_refused(repo: Path, ref: str) -> None:
    with pytest.raises(CompareError, match=r"Unknown git ref|cannot start with '-'|it is empty"):
        resolve_ref(repo, ref)


def test_worktrees_hold_each_commit_and_leave_the_checkout_alone(repo: Path) -> None:
    (repo / "app.py").write_text("VERSION = 'uncommitted'\n")
    with worktrees(repo, {"base": "main", "head": "feature"}) as trees:
        assert (trees["base"].path / "app.py").read_text() == "VERSION = 1\n"
        assert (trees["head"].path / "app.py").read_text() == "VERSION = 2\n"
        listed = _git(repo, "worktree", "list")
        assert str(trees["base"].path) in listed
        folder = trees["base"].path.parent
    assert not folder.exists()
    assert _git(repo, "worktree", "list").count("\n") == 0  # only the main checkout
    assert (repo / "app.py").read_text() == "VERSION = 'uncommitted'\n"
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_worktrees_are_removed_when_the_block_fails(repo: Path) -> None:
    with pytest.raises(RuntimeError), worktrees(repo, {"base": "main"}) as trees:
        path = trees["base"].path
        raise RuntimeError("child crashed")
    assert not path.exists()
    assert _git(repo, "worktree", "list").count("\n") == 0


def test_keep_leaves_them_for_debugging(repo: Path) -> None:
    with worktrees(repo, {"base": "main"}, keep=True) as trees:
        path = trees["base"].path
    assert path.exists()
    _git(repo, "worktree", "remove", "--force", str(path))
    path.parent.rmdir()  # the perfaudit-compare-* folder: leave nothing in /tmp


def test_stale_folders_of_a_dead_run_are_removed_and_a_live_runs_kept(repo: Path) -> None:
    import json
    import subprocess

    from perfaudit.compare.git import Ownership, clean_stale

    with worktrees(repo, {"base": "main"}, keep=True, ownership=Ownership(repo)) as trees:
        folder = trees["base"].path.parent
    (record,) = (repo / ".git" / "perfaudit-compare").glob("*.json")
    assert json.loads(record.read_text())["paths"] == [str(folder)]
    assert clean_stale(repo) == []  # this process is alive: its folders are its own

    dead = subprocess.Popen(["true"])
    dead.wait()
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "pid": dead.pid}))
    assert clean_stale(repo) == [str(folder)]
    assert not folder.exists()
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    assert not record.exists()

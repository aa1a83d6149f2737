"""The git repository holding the project's code: is a recorded commit in it, a temporary worktree of
that commit (to re-run a model version's training with the code that trained it), and what changed
between two commits. Only reads the repository, apart from the worktree's own registration, which
`worktree` removes again."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from olist_pipeline.errors import ReproductionError


def _git(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ReproductionError(f"git failed in {root}: {exc}") from None


def is_repository(root: Path) -> bool:
    """Is `root` inside a git working tree?"""
    return _git(root, "rev-parse", "--is-inside-work-tree").stdout.strip() == "true"


def has_commit(root: Path, commit: str) -> bool:
    """Is `commit` (a full or abbreviated sha) a commit of the repository at `root`?"""
    return _git(root, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


@contextlib.contextmanager
def worktree(root: Path, commit: str, path: Path) -> Iterator[Path]:
    """`commit` checked out (detached) at `path`, a new directory, for the duration of the block; the
    worktree is removed afterwards, whatever happened in the block."""
    added = _git(root, "worktree", "add", "--detach", str(path), commit)
    if added.returncode != 0:
        raise ReproductionError(f"cannot check out commit {commit[:12]} into {path}: {added.stderr.strip()}")
    try:
        yield path
    finally:
        _git(root, "worktree", "remove", "--force", "--force", str(path))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        _git(root, "worktree", "prune")


def diff_stat(root: Path, a: str, b: str) -> str:
    """`git diff --stat a b`: the files changed between two commits (empty: the same code)."""
    if a == b:
        return ""
    result = _git(root, "diff", "--stat", a, b, "--")
    if result.returncode != 0:
        return f"git diff --stat failed: {result.stderr.strip()}"
    return result.stdout

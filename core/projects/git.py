"""Small synchronous git helpers (called from threads by async code)."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from orch.core.errors import OrchError, UserError

# Nobody is at a terminal to answer a credentials prompt: git must fail instead of waiting for ever.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}
# A clone orch makes (`orch project add`, a worker's) mirrors origin's branches, so after a fetch its default
# branch is origin's latest; orch's task branches are the clone's own, and a fetch must neither overwrite them nor
# fail because one is checked out.
FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "^refs/heads/orch/*")
# Commits made for a task must not fail on a machine where git has no identity configured.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "orch",
    "GIT_AUTHOR_EMAIL": "orch@localhost",
    "GIT_COMMITTER_NAME": "orch",
    "GIT_COMMITTER_EMAIL": "orch@localhost",
}


def git(cwd: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None,
        timeout: float | None = None, strip: bool = True) -> str:
    """git's standard output; with `check`, an OrchError carrying git's own message when it fails."""
    result = run_git(cwd, *args, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise OrchError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip() if strip else result.stdout


def run_git(cwd: Path, *args: str, env: Mapping[str, str] | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run git and hand back how it ended, whatever the exit status (the caller reads it)."""
    full_env = {**os.environ, **(env or {})}
    if not _has_identity(cwd):
        full_env.update(_IDENTITY)
    try:
        return subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OrchError(f"git {' '.join(args)} took longer than {timeout:g} s in {cwd}") from None


@functools.lru_cache(maxsize=256)
def _has_identity(cwd: Path) -> bool:
    # Asked once per folder, not before every git command: each answer costs a fork of git.
    result = subprocess.run(["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


def repo_root(path: Path) -> Path:
    result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"{path} is not a git repository")
    return Path(result.stdout.strip())


def default_branch(repo: Path) -> str:
    """The branch new task branches start from: the repo's current branch (HEAD)."""
    branch = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if not branch:
        raise UserError(f"{repo} has a detached HEAD; check out a branch first")
    return branch


def has_commits(repo: Path) -> bool:
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=repo,
                          capture_output=True).returncode == 0

"""Work that exists in one place only: commits of a task branch that no other branch, tag or remote-tracking ref
holds, and worktrees with uncommitted changes. What `orch project remove` must not delete without `--force`."""

from __future__ import annotations

from pathlib import Path

from orch.core.errors import OrchError
from orch.core.projects.git import NO_PROMPT, git, run_git

TASK_BRANCHES = "orch/*"  # orch names every task branch orch/<id>-<slug> (projects.worktrees.branch_name)
# Asking a remote which commits it has must not hold `orch project remove` for long when the network is down.
LS_REMOTE_TIMEOUT_SECONDS = 30.0


def unique_work(repo: Path) -> list[str]:
    """What deleting `repo` (and its worktrees) would lose, one phrase each; [] when nothing."""
    return [*_unique_branches(repo), *_dirty_worktrees(repo)]


def _unique_branches(repo: Path) -> list[str]:
    found: list[str] = []
    pushed = _remote_heads(repo)
    for branch in git(repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{TASK_BRANCHES}").split():
        # Not `--all`: it counts every worktree's HEAD, which is the task branch itself. Other task branches go
        # with the repository too, so they are no safe place either.
        count = int(git(repo, "rev-list", "--count", branch, "--not", f"--exclude={TASK_BRANCHES}", "--branches",
                        "--tags", "--remotes", *pushed))
        if count:
            found.append(f"branch {branch} ({count} commit{'s' if count != 1 else ''} on no other branch)")
    return found


def _remote_heads(repo: Path) -> list[str]:
    """The commits the remotes' branches point at, of those this repository has: what was pushed is safe there. A
    managed clone keeps no remote-tracking refs for task branches, so the remote is asked; unreachable, it holds
    nothing as far as this check knows (the safe answer)."""
    heads: set[str] = set()
    for remote in git(repo, "remote").split():
        try:
            listed = run_git(repo, "ls-remote", "--heads", remote, env=NO_PROMPT, timeout=LS_REMOTE_TIMEOUT_SECONDS)
        except OrchError:
            continue
        if listed.returncode == 0:
            heads.update(line.split()[0] for line in listed.stdout.splitlines() if line.strip())
    return sorted(sha for sha in heads if run_git(repo, "cat-file", "-e", f"{sha}^{{commit}}").returncode == 0)


def _dirty_worktrees(repo: Path) -> list[str]:
    found: list[str] = []
    listing = git(repo, "worktree", "list", "--porcelain")
    paths = [Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")]
    for path in paths:
        if path.resolve() == repo.resolve() or not path.is_dir():
            continue  # the repository itself (bare: no work tree), or a folder already gone
        try:
            changes = git(path, "status", "--porcelain", "--untracked-files=all")
        except OrchError as exc:
            found.append(f"worktree {path} (cannot tell whether it holds uncommitted work: {exc})")
            continue
        if changes:
            count = len(changes.splitlines())
            found.append(f"worktree {path} ({count} uncommitted change{'s' if count != 1 else ''})")
    return found

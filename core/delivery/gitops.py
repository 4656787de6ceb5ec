"""The git side of delivery: a task branch's diff against its base, pushing it, and merging it into the default
branch without touching anyone's working tree.

A merge is computed with `git merge-tree --write-tree` and `git commit-tree` (no checkout involved) and lands
with a compare-and-set `update-ref`, so a branch that moved meanwhile is never overwritten. The one exception is
a checkout that has the target branch checked out: its files must follow the ref, so the merge is applied there
with `git merge --ff-only`, and only when that checkout is clean.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from orch.core.errors import OrchError
from orch.core.projects.git import git, run_git

# Pushing may need the network: bounded, and never waiting for a credentials prompt nobody can answer.
PUSH_TIMEOUT_SECONDS = 120.0
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


class DeliveryError(OrchError):
    """Delivery could not be done; the message says why (git's or the forge's own words). Nothing was moved."""


@dataclass(frozen=True)
class DiffStat:
    files: int
    added: int
    removed: int
    stat: str  # `git diff --stat` as a person reads it


def diff_stat(repo: Path, base: str, branch: str) -> DiffStat:
    numstat = git(repo, "diff", "--numstat", base, branch)
    files = added = removed = 0
    for line in numstat.splitlines():
        plus, minus, _ = line.split("\t", 2)
        files += 1
        # Binary files show "-": they count as changed files with no lines.
        added += int(plus) if plus.isdigit() else 0
        removed += int(minus) if minus.isdigit() else 0
    return DiffStat(files, added, removed, git(repo, "diff", "--stat=100", base, branch))


def file_changes(repo: Path, base: str, branch: str) -> list[tuple[str, int | None, int | None]]:
    """Each file changed between `base` and `branch`: (path, lines added, lines removed); None for a binary file."""
    changes: list[tuple[str, int | None, int | None]] = []
    # -z: paths as they are (not quoted), each after its counts.
    fields = git(repo, "diff", "--numstat", "-z", "--no-renames", base, branch).split("\0")
    for entry in fields:
        if entry.count("\t") == 2:
            plus, minus, path = entry.split("\t", 2)
            changes.append((path, int(plus) if plus.isdigit() else None, int(minus) if minus.isdigit() else None))
    return changes


def patch(repo: Path, base: str, branch: str) -> str:
    return git(repo, "diff", "--no-color", base, branch, strip=False)


def rev(repo: Path, ref: str) -> str:
    """The commit `ref` names; empty when it names none (a branch that does not exist)."""
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)


def has_remote(repo: Path, name: str) -> bool:
    return name in git(repo, "remote").split()


def remote_url(repo: Path, name: str = "origin") -> str | None:
    """The remote's URL as configured (`get-url` would apply `insteadOf` rewrites and hide the forge's name)."""
    url = git(repo, "config", "--get", f"remote.{name}.url", check=False)
    return url or None


def push_branch(repo: Path, branch: str, remote: str = "origin") -> None:
    if not has_remote(repo, remote):
        raise DeliveryError(f"the project has no `{remote}` remote to push to")
    _push(repo, remote, f"refs/heads/{branch}:refs/heads/{branch}")


def _push(repo: Path, remote: str, refspec: str) -> None:
    result = _run(repo, "push", "--porcelain", remote, refspec)
    if result.returncode != 0:
        # The line that says why: git's `! … (reason)` of a refused ref, else its last error line.
        lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
        refused = [line for line in lines if line.startswith("!")]
        errors = [line for line in lines if line.startswith(("error:", "fatal:"))]
        reason = (refused or errors or lines or [f"git push exited with {result.returncode}"])[-1]
        raise DeliveryError(f"push to {remote} was rejected: {reason}")


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return run_git(repo, *args, env=_NO_PROMPT, timeout=PUSH_TIMEOUT_SECONDS)
    except OrchError as exc:  # a timeout
        raise DeliveryError(str(exc)) from None


@dataclass(frozen=True)
class Merged:
    commit: str
    fast_forward: bool


def merge_into(repo: Path, branch: str, target: str, message: str, *, push_to: str | None = None) -> Merged:
    """Merge `branch` into `target` (a fast-forward when possible, else a merge commit).

    `push_to`: a remote that must take the new `target` first (a bare clone mirrors it; a local ref alone would
    be overwritten by the next fetch). Raises DeliveryError with the conflicting files or the refusal.
    """
    old = rev(repo, f"refs/heads/{target}")
    tip = rev(repo, f"refs/heads/{branch}")
    if not old or not tip:
        raise DeliveryError(f"cannot merge: {'branch ' + branch if not tip else target} does not exist")
    if _is_ancestor(repo, tip, old):
        return Merged(old, fast_forward=True)  # already merged: nothing to move
    if _is_ancestor(repo, old, tip):
        new, fast_forward = tip, True
    else:
        new, fast_forward = _merge_commit(repo, old, tip, message), False
    if push_to is not None:
        _push(repo, push_to, f"{new}:refs/heads/{target}")
    checkout = _checked_out_at(repo, target)
    if checkout is None:
        # A clone whose fetch refspec mirrors origin's branches has already moved its own with the push.
        if rev(repo, f"refs/heads/{target}") != new:
            git(repo, "update-ref", "-m", message, f"refs/heads/{target}", new, old)
    else:
        _advance_checkout(checkout, target, new)
    return Merged(new, fast_forward)


def _is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    return _run(repo, "merge-base", "--is-ancestor", ancestor, descendant).returncode == 0


def _merge_commit(repo: Path, ours: str, theirs: str, message: str) -> str:
    result = _run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs)
    lines = result.stdout.splitlines()
    if result.returncode == 1:
        conflicts = sorted(set(lines[1:])) or ["(git named no file)"]
        raise DeliveryError(f"merge conflict in {', '.join(conflicts)}")
    if result.returncode != 0 or not lines:
        raise DeliveryError(f"git merge-tree failed: {result.stderr.strip() or result.returncode}")
    return git(repo, "commit-tree", lines[0], "-p", ours, "-p", theirs, "-m", message)


def _checked_out_at(repo: Path, branch: str) -> Path | None:
    """The working tree (if any) that has `branch` checked out."""
    path: str | None = None
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = line.removeprefix("worktree ")
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return Path(path)
    return None


def _advance_checkout(checkout: Path, branch: str, new: str) -> None:
    # Untracked files count: a merge could need their names.
    if git(checkout, "status", "--porcelain"):
        raise DeliveryError(f"{branch} is checked out in {checkout} with uncommitted changes; commit or stash them, "
                            f"or merge yourself: git -C {checkout} merge {new[:12]}")
    result = _run(checkout, "merge", "--ff-only", "--quiet", new)
    if result.returncode != 0:
        raise DeliveryError(f"could not fast-forward {branch} in {checkout}: {result.stderr.strip()}")

"""`orch task diff|push|review` and `orch cost` through the `orch` script, on a real repository and SQLite store.

A task's run is not what is tested here: its branch, base and end are written into the store as the engine
would leave them, and the CLI does the rest.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Attempt, Review, ReviewComment, TaskStatus

from tests.conftest import make_repo

ORCH = str(Path(sys.executable).parent / "orch")
BRANCH = "orch/1-add-a-file"


def orch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def in_store(home: Path, change: Callable[[SqliteStore], Awaitable[None]]) -> None:
    async def run() -> None:
        store = await SqliteStore.open(OrchHome(home).db_file)
        try:
            await change(store)
        finally:
            await store.close()

    asyncio.run(run())


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A registered checkout with an origin, and task 1 done on a branch that adds one file."""
    repo = make_repo(tmp_path / "app")
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(tmp_path / "origin.git")], check=True)
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    assert orch("init", cwd=repo).returncode == 0
    assert orch("task", "new", "add a file", "--project", "app", "--agent", "shell").returncode == 0
    base = git(repo, "rev-parse", "main")
    git(repo, "checkout", "-q", "-b", BRANCH)
    (repo / "notes.txt").write_text("first line\n")
    git(repo, "add", "notes.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "orch: task 1: add a file")
    git(repo, "checkout", "-q", "main")

    async def ended(store: SqliteStore) -> None:
        await store.update_task(1, branch=BRANCH, base_branch="main", base_commit=base, agent="shell")
        await store.transition(1, TaskStatus.DONE)

    in_store(tmp_path / "home", ended)
    return repo


def test_diff_prints_the_stat_then_a_patch_git_applies(finished: Path, tmp_path: Path) -> None:
    result = orch("task", "diff", "1")
    assert result.returncode == 0, result.stderr
    base = git(finished, "rev-parse", "main")
    lines = result.stdout.splitlines()
    assert lines[0] == f"task 1: 1 file changed, +1 -0 ({BRANCH} against {base[:12]})"
    assert "diff --git a/notes.txt b/notes.txt" in lines and "+first line" in lines
    copy = make_repo(tmp_path / "copy")
    applied = subprocess.run(["git", "-C", str(copy), "apply"], input=result.stdout, text=True, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert (copy / "notes.txt").read_text() == "first line\n"
    assert orch("task", "new", "not yet").returncode == 0
    unstarted = orch("task", "diff", "2")
    assert (unstarted.returncode, unstarted.stderr) == (1, "orch: task 2 has no branch yet (new)\n")


def test_push_then_review(finished: Path, tmp_path: Path) -> None:
    pushed = orch("task", "push", "1")
    assert (pushed.returncode, pushed.stdout) == (0, f"task 1 pushed {BRANCH} to origin\n"), pushed.stderr
    assert git(tmp_path / "origin.git", "rev-parse", BRANCH) == git(finished, "rev-parse", BRANCH)
    reviewed = orch("task", "review", "1")
    assert (reviewed.returncode, reviewed.stdout) == (0, "task 1 will be reviewed now\n"), reviewed.stderr
    assert json.loads(orch("task", "show", "1", "--json").stdout)["status"] == "routed"
    again = orch("task", "merge", "1")
    assert (again.returncode, again.stderr) == (
        1, "orch: task 1 is routed; only a done or needs_review task with a branch can be delivered\n")


def test_cost_and_reviews_in_show(finished: Path, tmp_path: Path) -> None:
    started = datetime(2025, 3, 1, 9, 30).timestamp()

    async def spent(store: SqliteStore) -> None:
        work = Attempt(task_id=1, number=1, agent="shell", model=None, started_at=started)
        await store.add_attempt(work)
        await store.finish_attempt(Attempt(1, 1, "shell", None, started, started + 4, 0, "done", cost_usd=0.25,
                                           tokens_in=1200, tokens_out=300))
        await store.add_review(Review(1, 2, "claude", "sonnet", "approve", "fine", (ReviewComment("a.py", 3, "ok"),),
                                      created_at=started + 10))

    in_store(tmp_path / "home", spent)
    lines = json.loads(orch("cost", "--json").stdout)
    assert [(line["key"], line["attempts"], line["cost_usd"]) for line in lines] == [("shell", 1, 0.25),
                                                                                     ("total", 1, 0.25)]
    table = orch("cost", "--by", "day").stdout.splitlines()
    assert table[0].split() == ["day", "attempts", "tokens", "in", "tokens", "out", "cost"]
    assert table[1].split() == ["2025-03-01", "1", "1,200", "300", "$0.2500"]
    assert json.loads(orch("cost", "--since", "2025-03-02", "--json").stdout) == [
        {"key": "total", "attempts": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}]
    bad = orch("cost", "--since", "last week")
    assert bad.returncode == 2 and "'last week' is not a date such as 2025-03-01" in bad.stderr
    [review] = json.loads(orch("task", "show", "1", "--json").stdout)["reviews"]
    assert review["created_at"] == datetime.fromtimestamp(started + 10).astimezone().isoformat()
    assert review["comments"] == [{"path": "a.py", "line": 3, "body": "ok"}]
    assert "  review 2: claude (sonnet) approve: fine" in orch("task", "show", "1").stdout.splitlines()

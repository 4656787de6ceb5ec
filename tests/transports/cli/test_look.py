"""How `orch task list|show`, `orch job list` and `orch project list` look: colour and the terminal's width at a
terminal (a real pty), plain text without escape codes when piped or with NO_COLOR; `task show` lists the files a
task changed with their +/- lines, its worktree, branch and times."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from orch.core.config import Config
from orch.core.home import OrchHome
from orch.core.projects.registry import Projects
from orch.core.projects.worktrees import Worktrees
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo

ROOT = Path(__file__).resolve().parents[3]
ESCAPE = "\x1b["
WIDTH = 60
LONG_TITLE = "a title far longer than the sixty columns of this terminal, so it has to be cut"


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from orch.transports.cli.main import main; main()", *args]


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": str(WIDTH), "TERM": "xterm-256color", **extra}


def at_a_terminal(*args: str, **extra: str) -> str:
    """What `orch ARGS` prints with a pty as its stdout, as a terminal would receive it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(_command(*args), stdout=follower, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, env=_env(**extra))
    os.close(follower)
    received = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not data:
            break
        received += data
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return received.decode().replace("\r\n", "\n")


def piped(*args: str, **extra: str) -> str:
    result = subprocess.run(_command(*args), capture_output=True, text=True, env=_env(**extra), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def visible(text: str) -> list[str]:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()


async def _seed(home: OrchHome, repo: Path) -> None:
    """A registered checkout; task 1 done with a commit changing two files, task 2 with a long title."""
    store = await SqliteStore.open(home.db_file)
    try:
        services = Services(home, store, config=Config())
        await services.projects.register_checkout(repo)
        task = await services.tasks.create("add notes", agent="shell")
        tree = await Worktrees(home).ensure(await Projects(store, Config(), home).resolve("app"), task)
        (tree.path / "notes.txt").write_text("one\ntwo\n")
        (tree.path / "README.md").write_text("replaced\n")
        await Worktrees(home).commit(tree.path, "orch: task 1: add notes")
        await store.transition(task.id, TaskStatus.DONE, agent="shell", branch=tree.branch, worktree=str(tree.path),
                               base_commit=tree.base_commit)
        await services.tasks.create(LONG_TITLE)
        await services.jobs.add("@daily", "nightly")
    finally:
        await store.close()


def test_colour_at_a_terminal_and_plain_text_elsewhere(tmp_path: Path) -> None:
    asyncio.run(_seed(OrchHome(tmp_path / "home"), make_repo(tmp_path / "app")))
    for args in (("task", "list"), ("job", "list"), ("project", "list")):
        plain = piped(*args)
        assert ESCAPE not in plain and ESCAPE not in at_a_terminal(*args, NO_COLOR="1"), args
        coloured = at_a_terminal(*args)
        assert ESCAPE in coloured, args
        assert all(len(line.rstrip()) <= WIDTH for line in visible(coloured)), coloured
    tasks = at_a_terminal("task", "list")
    assert "\x1b[32mdone" in tasks  # done in green
    assert [line.split()[:3] for line in visible(tasks)] == [["id", "status", "agent"], ["1", "done", "shell"],
                                                             ["2", "new", "-"]]
    assert visible(tasks)[2].rstrip().endswith("…")
    # Piped, a title is never cut (scripts read it); NO_COLOR at a terminal cuts it to the width, uncoloured.
    assert LONG_TITLE in piped("task", "list")
    assert all(len(line) <= WIDTH for line in at_a_terminal("task", "list", NO_COLOR="1").splitlines())


def test_task_show_lists_files_worktree_branch_and_times(tmp_path: Path) -> None:
    home = OrchHome(tmp_path / "home")
    asyncio.run(_seed(home, make_repo(tmp_path / "app")))
    shown = piped("task", "show", "1")
    worktree = home.worktrees_dir / "app" / "orch" / "1-add-notes"
    assert f"worktree:   {worktree}\n" in shown
    assert f"branch:     orch/1-add-notes (look: orch task diff 1, git -C {worktree} log)\n" in shown
    assert re.search(r"^created:    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ s ago)\)$", shown, re.M), shown
    assert shown.endswith("files:\n  +1 -1  README.md\n  +2 -0  notes.txt\n"), shown
    assert ESCAPE not in shown

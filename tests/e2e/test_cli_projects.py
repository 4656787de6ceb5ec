"""`orch project add | list | remove` through the real argparse entry point, against local repositories."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo

# This checkout's code, whichever checkout the tests run from (the `orch` script runs the installed one).
ROOT = Path(__file__).resolve().parents[2]


def orch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from orch.transports.cli.main import main; main()", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


def listed() -> list[dict[str, str | None]]:
    result = orch("project", "list", "--json")
    assert result.returncode == 0, result.stderr
    projects: list[dict[str, str | None]] = json.loads(result.stdout)
    return projects


def files_under(path: Path) -> list[str]:
    return sorted(str(child.relative_to(path)) for child in path.rglob("*"))


def set_status(home: Path, task_id: int, status: TaskStatus) -> None:
    async def change() -> None:
        store = await SqliteStore.open(OrchHome(home).db_file)
        try:
            await store.transition(task_id, status)
        finally:
            await store.close()

    asyncio.run(change())


def test_add_list_and_remove_a_managed_clone(tmp_path: Path) -> None:
    make_repo(tmp_path / "acme" / "app")
    home = tmp_path / "home"
    clone = home / "projects" / "acme" / "app.git"
    added = orch("project", "add", "acme/app", cwd=tmp_path)  # a relative path, not the GitHub shorthand
    assert (added.returncode, added.stdout, added.stderr) == (
        0, f"project app added: {clone} (default branch main)\n", "")
    assert subprocess.run(["git", "-C", str(clone), "rev-parse", "--is-bare-repository"], capture_output=True,
                          text=True).stdout == "true\n"
    assert listed() == [{"name": "app", "kind": "clone", "path": str(clone), "default_branch": "main"}]

    # A task of the project is running: the clone stays.
    assert orch("task", "new", "work", "--project", "app", "--agent", "shell").returncode == 0
    set_status(home, 1, TaskStatus.IN_PROGRESS)
    refused = orch("project", "remove", "app")
    assert (refused.returncode, refused.stderr) == (
        1, "orch: project 'app' has running tasks (1); cancel them or let them finish first\n")
    assert clone.is_dir() and [p["name"] for p in listed()] == ["app"]

    set_status(home, 1, TaskStatus.DONE)
    (home / "worktrees" / "app" / "orch" / "1-work").mkdir(parents=True)
    removed = orch("project", "remove", "app")
    assert (removed.returncode, removed.stdout) == (0, f"project app removed; deleted {clone}\n")
    assert not (home / "projects" / "acme").exists() and not (home / "worktrees" / "app").exists()
    assert listed() == []
    assert orch("project", "list").stdout == (
        "no projects; tasks run in the scratch project (`orch project add URL|PATH` or `orch init`)\n")


def test_list_shows_every_kind_and_removing_a_checkout_keeps_its_files(tmp_path: Path) -> None:
    checkout = make_repo(tmp_path / "mine")
    upstream = make_repo(tmp_path / "acme" / "app")
    configured = make_repo(tmp_path / "cfg")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text(f"projects:\n  cfg:\n    path: {configured}\n    default_branch: main\n")
    assert orch("init", cwd=checkout).returncode == 0
    assert orch("project", "add", str(upstream), "--name", "web").returncode == 0
    clone = home / "projects" / "acme" / "app.git"
    assert listed() == [
        {"name": "cfg", "kind": "config", "path": str(configured), "default_branch": "main"},
        # A checkout starts tasks from what it has checked out.
        {"name": "mine", "kind": "checkout", "path": str(checkout), "default_branch": "main"},
        {"name": "web", "kind": "clone", "path": str(clone), "default_branch": "main"},
    ]
    assert orch("project", "list").stdout.splitlines() == [
        "name  kind      branch  path",
        f"cfg   config    main    {configured}",
        f"mine  checkout  main    {checkout}",
        f"web   clone     main    {clone}",
    ]
    before = files_under(checkout)
    removed = orch("project", "remove", "mine")
    assert (removed.returncode, removed.stdout) == (0, f"project mine unregistered; {checkout} left as it is\n")
    assert files_under(checkout) == before
    in_config = orch("project", "remove", "cfg")
    assert (in_config.returncode, in_config.stderr) == (1, "orch: project 'cfg' is set in config.yml; remove it "
                                                           "there\n")
    assert [p["name"] for p in listed()] == ["cfg", "web"]


def test_bad_inputs_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "acme" / "app")
    plain = tmp_path / "plain"
    plain.mkdir()
    home = tmp_path / "home"
    assert orch("project", "add", str(upstream)).returncode == 0
    before = (listed(), files_under(home / "projects"))
    missing = tmp_path / "gone" / "lib.git"
    for args, message in [
        (("remove", "nope"), "project 'nope' not found"),
        (("add", str(upstream)), "project 'app' already exists (`orch project list`)"),
        (("add", str(upstream), "--name", "other"),
         f"{home}/projects/acme/app.git already exists; another project was cloned from acme/app"),
        (("add", str(plain)), f"{plain} is not a git repository"),
        (("add", f"file://{missing}"),
         f"cannot clone file://{missing}: fatal: '{missing}' does not appear to be a git repository"),
        (("add", str(upstream), "--name", "../x"), "project name '../x' may only have letters, digits, '.', '_' "
                                                   "and '-'"),
        (("add", "no-such-thing"), "'no-such-thing' is not a git URL, owner/repo or an existing path"),
    ]:
        result = orch("project", *args, cwd=tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"orch: {message}\n"), args
        assert (listed(), files_under(home / "projects")) == before, args
    assert orch("project", "add").returncode == 2

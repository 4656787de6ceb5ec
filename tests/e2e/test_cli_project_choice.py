"""Which project `orch task new` puts a task in: --project, else the registered project holding the current folder,
else the only one, else one line naming them; scratch only while none is registered. The created line says which."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_repo
from tests.e2e.test_cli_projects import orch


def created(title: str, cwd: Path, *more: str) -> tuple[int, str, str]:
    result = orch("task", "new", title, "--agent", "shell", *more, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def test_no_project_means_scratch_and_one_project_is_the_one(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert created("first", outside) == (0, "task 1 created: first (new, project scratch)\n", "")
    api = make_repo(tmp_path / "api")
    assert orch("init", cwd=api).returncode == 0
    assert created("second", outside) == (0, "task 2 created: second (new, project api)\n", "")


def test_the_checkout_holding_the_current_folder_wins(tmp_path: Path) -> None:
    api, web = make_repo(tmp_path / "api"), make_repo(tmp_path / "web")
    (web / "src").mkdir()
    for checkout in (api, web):
        assert orch("init", cwd=checkout).returncode == 0
    assert created("in web", web) == (0, "task 1 created: in web (new, project web)\n", "")
    assert created("from a subfolder", web / "src") == (0, "task 2 created: from a subfolder (new, project web)\n",
                                                        "")
    assert created("in api", api) == (0, "task 3 created: in api (new, project api)\n", "")
    assert created("named", web, "--project", "api") == (0, "task 4 created: named (new, project api)\n", "")
    # A task's worktree belongs to its project too.
    worktree = tmp_path / "home" / "worktrees" / "web" / "orch" / "1-in-web"
    worktree.mkdir(parents=True)
    assert created("from a worktree", worktree) == (0, "task 5 created: from a worktree (new, project web)\n", "")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert created("where?", outside) == (
        1, "", f"orch: which project? 2 are registered (api, web); none of them holds {outside}: name one with "
               "--project NAME (in chat: project:NAME)\n")
    assert [line.split()[0] for line in orch("task", "list").stdout.splitlines()[1:]] == ["1", "2", "3", "4", "5"]

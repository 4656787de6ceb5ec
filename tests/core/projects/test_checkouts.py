"""Checkouts registered by `orch init`, with odd but legal folder names: a second folder of the same name never
re-points the first project, a name is always one `--project NAME` can take, and a folder with a newline in its
name runs a task to the end."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from orch.core.config import parse_config
from orch.core.errors import ConfigError
from orch.core.home import OrchHome
from orch.core.projects.registry import project_name
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo
from tests.helpers import fast_config, running_engine


async def test_a_second_folder_of_the_same_name_is_registered_apart_and_says_so(
        home: OrchHome, store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    projects = Services(home, store, config=fast_config()).projects
    first = await projects.register_checkout(make_repo(tmp_path / "work" / "app"))
    with caplog.at_level(logging.WARNING, logger="orch.projects"):
        second = await projects.register_checkout(make_repo(tmp_path / "other" / "app"))
        third = await projects.register_checkout(make_repo(tmp_path / "third" / "app"))
    assert [(p.name, Path(p.path).parent.name) for p in (first, second, third)] == [
        ("app", "work"), ("app-2", "other"), ("app-3", "third")]
    assert [record.getMessage() for record in caplog.records] == [
        "a project named app is already registered; this checkout is registered as app-2",
        "a project named app is already registered; this checkout is registered as app-3"]
    # Run again inside a registered checkout (a subfolder too), init changes nothing.
    (tmp_path / "work" / "app" / "src").mkdir()
    assert await projects.register_checkout(tmp_path / "work" / "app" / "src") == first
    assert {p.name: p.path for p in await store.list_projects()} == {
        "app": first.path, "app-2": second.path, "app-3": third.path}


async def test_names_of_config_projects_and_scratch_are_taken_too(home: OrchHome, store: SqliteStore,
                                                                  tmp_path: Path) -> None:
    config = parse_config({"projects": {"web": {"path": str(tmp_path / "elsewhere")}}})
    projects = Services(home, store, config=config).projects
    assert (await projects.register_checkout(make_repo(tmp_path / "a" / "web"))).name == "web-2"
    assert (await projects.register_checkout(make_repo(tmp_path / "b" / "scratch"))).name == "scratch-2"


@pytest.mark.parametrize(("folder", "name"), [
    ("app", "app"), ("-rf", "rf"), ("--force", "force"), ("my app", "my-app"), ("a\nb", "a-b"),
    ("tab\there\x1b[31m", "tab-here-31m"), ("café", "cafe"), ("日本語", "project"), ("...", "project"),
    ("v1.2_final-", "v1.2_final"), ("\u202eevil", "evil"),
])
def test_a_project_name_is_one_a_user_can_type(folder: str, name: str) -> None:
    assert project_name(folder) == name


@pytest.mark.parametrize("name", ["-rf", "bad\nname", "tab\tname", "esc\x1bname"])
def test_config_may_not_define_a_project_name_that_cannot_be_typed(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"projects": {name: {"path": "/somewhere"}}})
    assert str(error.value).startswith("config.yml: projects: ") and "\n" not in str(error.value)


async def test_a_checkout_with_a_newline_in_its_name_runs_a_task_to_the_end(
        home: OrchHome, store: SqliteStore, tmp_path: Path) -> None:
    checkout = make_repo(tmp_path / "odd\nname -rf")
    async with running_engine(home, store) as (orch, events):
        project = await orch.projects.register_checkout(checkout)
        assert project.name == "odd-name-rf"
        task = await orch.tasks.create("write a file", "echo made here > made.txt; pwd", agent="shell",
                                       project=project.name)
        await events.wait_status(task.id, TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, timeout=60)
    done = await store.get_task(task.id)
    assert done is not None and done.status is TaskStatus.DONE, done
    assert done.branch is not None
    committed = subprocess.run(["git", "show", "--name-only", "--format=", done.branch], cwd=checkout,
                               capture_output=True, text=True, check=True).stdout.strip()
    assert committed == "made.txt"


async def test_a_checkout_is_registered_with_its_origin_url_when_it_has_one(
        home: OrchHome, store: SqliteStore, tmp_path: Path) -> None:
    projects = Services(home, store, config=fast_config()).projects
    with_origin = make_repo(tmp_path / "work" / "web")
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:acme/web.git"], cwd=with_origin, check=True)
    assert (await projects.register_checkout(with_origin)).url == "git@github.com:acme/web.git"
    without = make_repo(tmp_path / "work" / "api")
    assert (await projects.register_checkout(without)).url is None
    # Given an origin later, `orch init` again records it (what a worker's clone delivers to).
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:acme/api.git"], cwd=without, check=True)
    assert (await projects.register_checkout(without)).url == "git@github.com:acme/api.git"
    assert (await store.get_project("api")).url == "git@github.com:acme/api.git"  # type: ignore[union-attr]

"""Shared fixtures: every test gets its own ORCH_HOME, hence its own SQLite file and tmux server; a test that asks
for one gets a PostgreSQL database of its own on a server the run shares."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore

from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram
from tests.postgres_cluster import PostgresCluster, find_bindir

# Fixtures for the tests that run the real agent CLIs through the engine (tests/core/agents, tests/core/running).
pytest_plugins = ["tests.core.agents.live"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ORCH_WORKTREES", raising=False)
    monkeypatch.delenv("ORCH_STORE_URL", raising=False)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / "home"))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[OrchHome]:
    orch_home = OrchHome(tmp_path / "home")
    orch_home.ensure()
    yield orch_home
    # Each home has its own tmux server (socket named after the home); never leave one behind.
    subprocess.run(["tmux", "-L", orch_home.tmux_socket_name, "kill-server"], capture_output=True)


@pytest.fixture
async def store(home: OrchHome) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(home.db_file)
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole run, started when a test first needs it."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    cluster = PostgresCluster.start(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of an empty database of this test's own."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.disconnect(name)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    yield fake
    await fake.close()


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll an async condition until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A real git repository with one commit on `main`."""
    path.mkdir(parents=True, exist_ok=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    for name, content in (files or {"README.md": "hello\n"}).items():
        (path / name).write_text(content)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=path, check=True, env={**os.environ, **env})
    return path

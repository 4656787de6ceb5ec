"""Work nobody may lose track of: an agent stuck printing the same failure, the store refusing writes (disk full)
while an agent prints, and a task whose runner died — each ends or recovers with its real cause, through the real
engine, tmux, git and SQLite."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.helpers import fast_config, running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW


async def test_an_agent_repeating_the_same_failure_is_stopped_with_that_reason(home: OrchHome,
                                                                                store: SqliteStore) -> None:
    body = 'n=0; while true; do n=$((n+1)); echo "Error: rate limited (429), retrying in 2s (attempt $n)"; ' \
           "sleep 0.02; done"
    async with running_engine(home, store, fast_config(max_attempts=1, idle_timeout_seconds=60)) as (orch, events):
        task = await orch.tasks.create("stuck", body, agent="shell")
        await events.wait_status(task.id, REVIEW, DONE, timeout=30)
    stuck = await store.get_task(task.id)
    assert stuck is not None and stuck.status is REVIEW
    assert stuck.review_reason is not None
    assert "it keeps printing the same failure: Error: rate limited (429), retrying in 2s" in stuck.review_reason
    [attempt] = await store.list_attempts(task.id)
    assert attempt.outcome == "repeating"


async def test_output_the_store_refuses_is_kept_and_delivered_once_space_returns(
    home: OrchHome, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="orch.capture")
    body = "echo before; while [ ! -f go ]; do sleep 0.02; done; seq 1 20000; echo after"
    async with running_engine(home, store, fast_config(idle_timeout_seconds=60)) as (orch, events):
        task = await orch.tasks.create("through a full disk", body, agent="shell")
        await events.wait_for(lambda _: events.lines(task.id) == ["before"])
        # The database may not grow any more: SQLite answers "database or disk is full", as on a full disk.
        db = store._db  # the connection the engine writes with: its page limit is the disk's size here
        async with db.execute("PRAGMA page_count") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        await db.execute(f"PRAGMA max_page_count = {row[0]}")
        running = await store.get_task(task.id)
        assert running is not None and running.worktree
        (Path(running.worktree) / "go").touch()

        async def refused() -> bool:
            return "database or disk is full" in caplog.text

        await wait_until(refused, what="the capture to report the full disk")
        assert (await store.get_task(task.id)).status is TaskStatus.IN_PROGRESS  # type: ignore[union-attr]
        await db.execute("PRAGMA max_page_count = 1073741823")  # space again
        await events.wait_status(task.id, DONE, REVIEW, timeout=30)
    assert events.lines(task.id) == ["before", *[str(n) for n in range(1, 20001)], "after"]
    stored = await store.chunks_after(task.id, 0, limit=100_000)
    assert [line for chunk in stored for line in chunk.lines] == events.lines(task.id)
    assert [chunk.seq for chunk in stored] == list(range(1, len(stored) + 1))
    assert "capture 1:1: OperationalError: database or disk is full; retrying" in caplog.text


async def test_a_task_whose_runner_died_is_taken_up_again_by_the_watchdog(
    home: OrchHome, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    body = "while [ ! -f go ]; do sleep 0.02; done; echo ran"
    async with running_engine(home, store, fast_config(idle_timeout_seconds=60)) as (orch, events):
        task = await orch.tasks.create("outlives its runner", body, agent="shell")
        await events.wait_status(task.id, TaskStatus.IN_PROGRESS)
        running = await store.get_task(task.id)
        assert running is not None and running.worktree
        # Every write fails when the attempt ends: the runner cannot record it, nor move the task anywhere.
        await store._db.execute("PRAGMA query_only = ON")
        (Path(running.worktree) / "go").touch()

        async def runner_died() -> bool:
            return "the runner of task 1 stopped" in caplog.text

        await wait_until(runner_died, timeout=30, what="the runner to die of the store refusing writes")
        await store._db.execute("PRAGMA query_only = OFF")
        await events.wait_status(task.id, DONE, REVIEW, timeout=30)
    assert "in progress with nothing running it" in caplog.text and "readonly database" in caplog.text
    ended = await store.get_task(task.id)
    assert ended is not None and ended.status is DONE, ended.review_reason

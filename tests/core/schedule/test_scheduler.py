"""Firing scheduled jobs: explicit instants through `fire_due`, a real SQLite file, and the real engine.

The tests about slots give their jobs `overlap: true`, so the tasks they leave unfinished do not hold them up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from orch.bot import format as fmt
from orch.core.events import EventHub, JobFired
from orch.core.home import OrchHome
from orch.core.schedule.jobs import Job, save_jobs
from orch.core.schedule.scheduler import Scheduler
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import wait_until
from tests.helpers import Recorder, fast_config, running_engine

T0 = datetime(2025, 3, 3, 9, 10, tzinfo=UTC)  # a Monday


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def scheduler_for(home: OrchHome, store: SqliteStore, hub: EventHub | None = None) -> Scheduler:
    hub = hub or EventHub()
    services = Services(home, store, config=fast_config(), hub=hub)
    return Scheduler(home, store, services.tasks, hub, timezone=UTC)


@pytest.fixture
async def second_store(home: OrchHome) -> AsyncIterator[SqliteStore]:
    """Another connection to the same database, as a restarted (or a second) `orch serve` has."""
    opened = await SqliteStore.open(home.db_file)
    yield opened
    await opened.close()


async def test_a_job_fires_once_per_slot_and_publishes_job_fired(home: OrchHome, store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="@hourly", title="hourly report", body="echo report",
                                   labels=("agent:shell", "nightly"), project="scratch", overlap=True)])
    hub = EventHub()
    events = Recorder(hub)
    scheduler = scheduler_for(home, store, hub)
    await scheduler.reload()
    # First sight starts from now: the 09:00 slot that just passed is not owed.
    assert await scheduler.fire_due(at()) == []
    assert await scheduler.fire_due(at(minutes=49, seconds=59)) == []
    [fired] = await scheduler.fire_due(at(minutes=50, seconds=1))
    assert await scheduler.fire_due(at(minutes=50, seconds=2)) == []
    assert await scheduler.fire_due(at(minutes=55)) == []
    await events.wait_for(lambda seen: JobFired(1, fired.task_id) in seen, timeout=5)
    await events.close()
    task = await store.get_task(fired.task_id)
    assert task is not None and task.status is TaskStatus.NEW
    assert (task.title, task.body, task.project) == ("hourly report", "echo report", "scratch")
    assert sorted(task.labels) == ["agent:shell", "job:1", "nightly"]
    [state] = (await store.list_job_states()).values()
    assert state.last_slot == datetime(2025, 3, 3, 10, 0, tzinfo=UTC).timestamp() and state.last_task_id == task.id
    [second] = await scheduler.fire_due(at(hours=1, minutes=50))
    assert second.task_id == task.id + 1


async def test_a_restart_does_not_fire_the_same_slot_again(home: OrchHome, store: SqliteStore,
                                                           second_store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="every 10m", title="tick", overlap=True)])
    before = scheduler_for(home, store)
    await before.reload()
    assert await before.fire_due(at()) == []  # first sight at 09:10, itself a slot: counting starts after it
    [fired] = await before.fire_due(at(minutes=10))
    after = scheduler_for(home, second_store)
    await after.reload()
    assert await after.fire_due(at(minutes=10)) == []
    assert await after.fire_due(at(minutes=19)) == []
    assert [e.task_id for e in await after.fire_due(at(minutes=20))] == [fired.task_id + 1]
    assert len(await store.list_tasks()) == 2


async def test_missed_slots_run_once_within_the_grace_period_and_are_skipped_after(
        home: OrchHome, store: SqliteStore, second_store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="@hourly", title="hourly", overlap=True),
                               Job(id=2, schedule="@daily", title="daily", overlap=True)])
    before = scheduler_for(home, store)
    await before.reload()
    assert await before.fire_due(at()) == []
    # serve is down from 09:10 to 12:30: the hourly slots 10:00, 11:00 and 12:00 coalesce into one run now;
    # the daily one had no slot in between.
    after = scheduler_for(home, second_store)
    await after.reload()
    assert [e.job_id for e in await after.fire_due(at(hours=3, minutes=20))] == [1]
    assert await after.fire_due(at(hours=3, minutes=21)) == []
    # Down again until 06:00 the next day: midnight is more than an hour ago, so the daily run is skipped;
    # the hourly 06:00 slot is within the grace period.
    restarted = scheduler_for(home, store)
    await restarted.reload()
    assert [e.job_id for e in await restarted.fire_due(at(hours=20, minutes=50, seconds=30))] == [1]
    assert await restarted.fire_due(at(hours=20, minutes=55)) == []
    assert [e.job_id for e in await restarted.fire_due(at(hours=38, minutes=50))] == [1, 2]
    assert [t.title for t in await store.list_tasks()] == ["hourly", "hourly", "hourly", "daily"]


async def test_two_schedulers_on_one_home_fire_a_slot_once(home: OrchHome, store: SqliteStore,
                                                           second_store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="@hourly", title="hourly")])
    one, two = scheduler_for(home, store), scheduler_for(home, second_store)
    await one.reload()
    await one.fire_due(at())
    await two.reload()
    fired = await asyncio.gather(one.fire_due(at(minutes=50)), two.fire_due(at(minutes=50)))
    assert sorted(len(events) for events in fired) == [0, 1]
    assert len(await store.list_tasks()) == 1


async def test_disabled_jobs_do_not_fire_and_owe_nothing_when_enabled(home: OrchHome, store: SqliteStore) -> None:
    job = Job(id=1, schedule="@hourly", title="hourly")
    save_jobs(home.jobs_file, [job])
    scheduler = scheduler_for(home, store)
    await scheduler.reload()
    await scheduler.fire_due(at())
    save_jobs(home.jobs_file, [job.model_copy(update={"enabled": False})])
    assert await scheduler.reload_if_changed()
    assert await scheduler.fire_due(at(minutes=50, seconds=1)) == []
    save_jobs(home.jobs_file, [job])
    assert await scheduler.reload_if_changed()
    assert not await scheduler.reload_if_changed()
    assert await scheduler.fire_due(at(minutes=55)) == []
    assert len(await scheduler.fire_due(at(hours=1, minutes=50))) == 1


async def test_a_changed_schedule_starts_afresh_and_a_broken_file_keeps_the_last_jobs(
        home: OrchHome, store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="@hourly", title="hourly")])
    scheduler = scheduler_for(home, store)
    await scheduler.reload()
    await scheduler.fire_due(at())
    save_jobs(home.jobs_file, [Job(id=1, schedule="*/5 * * * *", title="every five", overlap=True)])
    assert await scheduler.reload_if_changed()
    assert await scheduler.fire_due(at(minutes=51)) == []  # the new schedule counts from its first sight
    assert len(await scheduler.fire_due(at(minutes=55))) == 1
    home.jobs_file.write_text("jobs:\n- id: 1\n  schedule: every tuesday\n  title: x\n")
    assert not await scheduler.reload_if_changed()
    assert [job.title for job in scheduler.jobs] == ["every five"]
    assert len(await scheduler.fire_due(at(hours=1))) == 1


async def test_a_job_added_while_serve_runs_fires_and_the_engine_runs_its_task(home: OrchHome,
                                                                              store: SqliteStore) -> None:
    async with running_engine(home, store) as (orch, events):
        scheduler = orch.scheduler(check_interval=0.05)
        await scheduler.start()
        try:
            # As `orch job add` does from another process: rewrite jobs.yml; serve notices and reloads.
            view = await orch.jobs.add("every 1s", "scheduled echo", body="echo from the job",
                                       labels=["agent:shell"])
            await events.wait_for(lambda seen: any(isinstance(e, JobFired) for e in seen), timeout=10)
        finally:
            await scheduler.stop()
        fired = next(e for e in events.events if isinstance(e, JobFired))
        assert fired.job_id == view.job.id == 1
        await events.wait_status(fired.task_id, TaskStatus.DONE, TaskStatus.NEEDS_REVIEW)
    task = await store.get_task(fired.task_id)
    assert task is not None and task.status is TaskStatus.DONE and sorted(task.labels) == ["agent:shell", "job:1"]
    assert events.lines(fired.task_id) == ["from the job"]


async def test_a_job_waits_for_its_unfinished_task_and_says_what_it_skipped(home: OrchHome,
                                                                             store: SqliteStore) -> None:
    save_jobs(home.jobs_file, [Job(id=1, schedule="every 10m", title="slow"),
                               Job(id=2, schedule="every 10m", title="may overlap", overlap=True)])
    scheduler = scheduler_for(home, store)
    await scheduler.reload()
    await scheduler.fire_due(at())
    first = {e.job_id: e.task_id for e in await scheduler.fire_due(at(minutes=10))}
    # Job 1's task is still new, then in progress: its next slots are skipped; job 2 fires every slot.
    assert [e.job_id for e in await scheduler.fire_due(at(minutes=20))] == [2]
    await store.transition(first[1], TaskStatus.IN_PROGRESS)
    assert [e.job_id for e in await scheduler.fire_due(at(minutes=30))] == [2]
    services = Services(home, store, config=fast_config())
    [view, _] = await services.jobs.views()
    assert view.skipped is not None and (view.skipped.count, view.skipped.task_id) == (2, first[1])
    assert view.skipped.last_slot == at(minutes=30).timestamp()
    [note] = fmt.job_notes(await services.jobs.views())
    assert re.fullmatch(rf"job 1: skipped 2 runs, last \S+( \S+)?: task {first[1]} still running", note)
    assert view.to_json()["skipped"] == {"count": 2, "last_slot": at(minutes=30).timestamp(),
                                         "task_id": first[1], "status": "in_progress"}
    # Once it ends the job fires again and the skips are forgotten.
    await store.transition(first[1], TaskStatus.DONE)
    fired = {e.job_id: e.task_id for e in await scheduler.fire_due(at(minutes=40))}
    assert sorted(fired) == [1, 2] and fired[1] > first[1]
    assert fmt.job_notes(await services.jobs.views()) == []
    # A waiting task holds the job up too; a cancelled one does not.
    await store.transition(fired[1], TaskStatus.WAITING)
    assert [e.job_id for e in await scheduler.fire_due(at(minutes=50))] == [2]
    await store.transition(fired[1], TaskStatus.CANCELLED)
    assert [e.job_id for e in await scheduler.fire_due(at(minutes=60))] == [1, 2]
    assert [t.title for t in await store.list_tasks()].count("slow") == 3


async def test_a_job_slower_than_its_schedule_runs_one_task_at_a_time(
        home: OrchHome, store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="orch.scheduler")
    release = tmp_path / "release"
    async with running_engine(home, store) as (orch, events):
        scheduler = orch.scheduler(check_interval=0.05)
        await scheduler.start()
        try:
            await orch.jobs.add("every 1s", "slow job", labels=["agent:shell"],
                                body=f"while [ ! -e {shlex.quote(str(release))} ]; do sleep 0.05; done; echo ran")

            async def skipped_twice() -> bool:
                [view] = await orch.jobs.views()
                return view.skipped is not None and view.skipped.count >= 2

            await wait_until(skipped_twice, what="two skipped runs")
            assert len(await store.list_tasks()) == 1
            release.touch()
            await wait_until(lambda: _count(store, 2), what="the next run after the first task ended")
        finally:
            await scheduler.stop()
        [first, second, *_] = [e.task_id for e in events.events if isinstance(e, JobFired)]
        await events.wait_status(first, TaskStatus.DONE)
    assert second > first
    assert any(f"task {first} is still" in record.getMessage() for record in caplog.records)


async def _count(store: SqliteStore, at_least: int) -> bool:
    return len(await store.list_tasks()) >= at_least

"""Firing scheduled jobs: explicit instants through `fire_due`, a real SQLite file, and once the real engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from orch.core.events import EventHub, JobFired
from orch.core.home import OrchHome
from orch.core.schedule.jobs import Job, save_jobs
from orch.core.schedule.scheduler import Scheduler
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

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
                                   labels=("agent:shell", "nightly"), project="scratch")])
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
    save_jobs(home.jobs_file, [Job(id=1, schedule="every 10m", title="tick")])
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
    save_jobs(home.jobs_file, [Job(id=1, schedule="@hourly", title="hourly"), Job(id=2, schedule="@daily",
                                                                                  title="daily")])
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
    save_jobs(home.jobs_file, [Job(id=1, schedule="*/5 * * * *", title="every five")])
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

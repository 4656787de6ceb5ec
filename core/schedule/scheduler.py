"""Fires scheduled jobs inside `orch serve`: a job whose slot has come creates a task.

Each job's state in the store says up to when its slots have been handled (fired or skipped). Every second the
loop notices a changed jobs.yml, then fires each job whose next slot after that point has passed:

- a slot fires once: the store moves `handled_until` with compare-and-set before the task is created, so a
  restart, or a second serve on the same home, cannot fire it again (a crash between the two loses that slot
  rather than running it twice);
- slots missed while serve was down (or busy) run once, coalesced into their latest, when that latest slot is
  at most `grace` (1 hour) old; older ones are skipped and logged;
- a slot that comes while the task the job made last is still new, routed, in_progress or waiting is skipped
  (logged, and counted for `orch job list`) unless the job says `overlap: true`;
- a job seen for the first time, or whose schedule changed, starts from now: past slots are not owed; nor are
  slots that pass while a job is disabled (they are handled as skipped).

apscheduler's own scheduler is not used for the firing: its in-memory job store computes the next run from
whenever it starts, and its persistent stores pickle jobs through SQLAlchemy. Its triggers decide every slot.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from apscheduler.triggers.base import BaseTrigger
from orch.core.errors import UserError
from orch.core.events import EventHub, JobFired
from orch.core.home import OrchHome
from orch.core.schedule.jobs import Job, load_jobs, next_slot
from orch.core.schedule.skips import clear_skipped, record_skip
from orch.core.stopping import cancel_and_wait
from orch.core.store.base import Store
from orch.core.store.records import JobState
from orch.core.tasks.models import Task, TaskStatus
from orch.core.tasks.service import TaskService
from tzlocal import get_localzone

log = logging.getLogger("orch.scheduler")

MISFIRE_GRACE = timedelta(hours=1)
# A job's task in one of these has not finished: the job's next run waits for it unless the job allows overlap.
UNFINISHED = frozenset({TaskStatus.NEW, TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.WAITING})


class Scheduler:
    def __init__(
        self,
        home: OrchHome,
        store: Store,
        tasks: TaskService,
        hub: EventHub,
        *,
        grace: timedelta = MISFIRE_GRACE,
        timezone: tzinfo | None = None,
        check_interval: float = 1.0,
    ) -> None:
        self.home = home
        self._store = store
        self._tasks = tasks
        self.hub = hub
        self.grace = grace
        self.timezone = timezone or get_localzone()
        self._check_interval = check_interval
        self._jobs: list[Job] = []
        self._states: dict[int, JobState] = {}
        self._signature: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    async def start(self) -> None:
        """Load jobs.yml (a mistake in it stops serve, like one in config.yml) and start firing."""
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def now(self) -> datetime:
        return datetime.now(self.timezone)

    async def reload(self) -> None:
        """Read jobs.yml and the job states again; raises ConfigError when the file is malformed."""
        signature = _signature(self.home.jobs_file)
        self._jobs = load_jobs(self.home.jobs_file)
        self._states = await self._store.list_job_states()
        self._signature = signature
        log.info("scheduler: %d jobs (%d enabled)", len(self._jobs), sum(job.enabled for job in self._jobs))

    async def reload_if_changed(self) -> bool:
        """Reload when jobs.yml changed since the last read (the CLI replaces it, so its inode changes)."""
        if _signature(self.home.jobs_file) == self._signature:
            return False
        try:
            await self.reload()
        except UserError as exc:
            # Keep firing the jobs read last; the next change to the file is read again.
            self._signature = _signature(self.home.jobs_file)
            log.error("jobs.yml not reloaded: %s", exc)
            return False
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self.reload_if_changed()
                await self.fire_due(self.now())
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self._check_interval)

    async def fire_due(self, now: datetime) -> list[JobFired]:
        """Fire every enabled job with a slot in (handled_until, now]; what was fired, in job order."""
        # Disabled jobs go through too: their passing slots are marked handled, so enabling one owes nothing.
        fired: list[JobFired] = []
        for job in self._jobs:
            event = await self._fire_job(job, now)
            if event is not None:
                fired.append(event)
        return fired

    async def _fire_job(self, job: Job, now: datetime) -> JobFired | None:
        state = self._states.get(job.id)
        if state is None or state.schedule != job.schedule:
            self._states[job.id] = await self._store.reset_job_state(job.id, job.schedule, now.timestamp())
            return None
        trigger = job.trigger(self.timezone)
        handled = datetime.fromtimestamp(state.handled_until, self.timezone)
        first = next_slot(trigger, handled)
        if first is None or first > now:
            return None
        latest = self._latest_slot(job, trigger, handled, now)
        holder = await self._unfinished_task(job) if latest is not None else None
        fires = latest is not None and holder is None
        claimed = await self._store.claim_job_slot(job.id, state.handled_until, now.timestamp(),
                                                  latest.timestamp() if fires and latest else None)
        self._states = await self._store.list_job_states()
        if not claimed:
            return None
        if latest is None:
            if job.enabled:
                log.warning("job %s: skipped slots from %s, more than %s ago", job.id, first.isoformat(), self.grace)
            return None
        if holder is not None:
            skipped = await record_skip(self._store, job.id, latest.timestamp(), holder.id, holder.status.value)
            log.warning("job %s: skipped its %s run: task %s is still %s (%d skipped since it last fired)",
                        job.id, latest.isoformat(), holder.id, holder.status.value, skipped.count)
            return None
        return await self._create_task(job, latest)

    def _latest_slot(self, job: Job, trigger: BaseTrigger, handled: datetime, now: datetime) -> datetime | None:
        """The latest slot in (handled, now] that may still run: within the grace period, of an enabled job."""
        # Looking from now - grace bounds the walk.
        latest: datetime | None = None
        slot = next_slot(trigger, max(handled, now - self.grace - timedelta(seconds=1)))
        while slot is not None and slot <= now:
            latest = slot
            slot = next_slot(trigger, slot)
        if latest is not None and (now - latest > self.grace or not job.enabled):
            return None
        return latest

    async def _unfinished_task(self, job: Job) -> Task | None:
        """The task the job made last when it has not finished and the job's runs may not overlap."""
        if job.overlap:
            return None
        # Read afresh: the state cached here was read before the last fire recorded its task.
        state = (await self._store.list_job_states()).get(job.id)
        if state is None or state.last_task_id is None:
            return None
        task = await self._store.get_task(state.last_task_id)
        return task if task is not None and task.status in UNFINISHED else None

    async def _create_task(self, job: Job, slot: datetime) -> JobFired | None:
        try:
            task = await self._tasks.create(job.title, job.body, labels=job.task_labels(), project=job.project)
        except UserError as exc:
            log.error("job %s (%s) could not create its task: %s", job.id, slot.isoformat(), exc)
            return None
        await self._store.set_job_task(job.id, task.id)
        await clear_skipped(self._store, job.id)
        event = JobFired(job.id, task.id)
        self.hub.publish(event)
        log.info("job %s fired for %s: task %s", job.id, slot.isoformat(), task.id)
        return event


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino

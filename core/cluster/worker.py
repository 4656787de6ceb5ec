"""`orch worker`: one host's share of a cluster. It runs procrastinate's worker over the queues of the agents
installed here, up to workflow.max_parallel jobs at once; each job runs one task exactly as `orch serve` would
(TaskRunner, AttemptRunner), in this home's tmux server, worktrees and attempt folders.

Beside the jobs: a heartbeat (so serve knows the host is alive and what it runs), the control messages addressed
to this host (say, interrupt), its hub's status changes sent to serve, and at start the re-adoption of the tasks
it held when it stopped (their agents went on in tmux; their capture resumes from the stored offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import procrastinate
from orch.core.agents.registry import installed_agents
from orch.core.cluster.db import ClusterDb, Control
from orch.core.cluster.names import CONTROL_CHANNEL, RUN_TASK, queue_for
from orch.core.cluster.queue import finish_stale, open_app
from orch.core.cluster.relay import Broadcaster
from orch.core.errors import UserError
from orch.core.events import EventHub
from orch.core.names import AGENT_NAMES
from orch.core.projects.cleanup import WorktreeCleanup
from orch.core.running.engine import build_runner
from orch.core.running.housekeeping import Housekeeping
from orch.core.store.base import Store
from orch.core.store.postgres_connect import connect
from orch.core.tasks.models import Task, TaskStatus
from orch.core.terminal.capture import CapturePoller
from orch.core.terminal.tmux import session_name

if TYPE_CHECKING:
    from orch.core.services import Services

log = logging.getLogger("orch.worker")

# How long a stopping worker lets its jobs end by themselves before it cancels them (their agents go on in tmux
# and the next start of this worker takes them up again).
SHUTDOWN_SECONDS = 0.5


class ClusterWorker:
    def __init__(self, services: Services, store: Store, hub: EventHub, url: str, host: str) -> None:
        config = services.config
        self._store = store
        self._hub = hub
        self._url = url
        self.host = host
        self._tmux = services.tmux
        self._socket = services.home.tmux_socket_name
        self._heartbeat_seconds = config.cluster.heartbeat_seconds
        self._max_parallel = config.workflow.max_parallel
        self.agents = installed_agents(config, AGENT_NAMES)
        if not self.agents:
            raise UserError("orch worker: no agent is installed on this host (claude, codex, opencode or sh)")
        self._poller = CapturePoller()
        self._runner = build_runner(services, store, hub, self._poller)
        # A host cleans its own worktrees (workflow.worktree_retention_days): the store names other hosts' too.
        self._housekeeping = Housekeeping(
            WorktreeCleanup(store, services.projects, only_under=services.home.worktrees_dir),
            config.workflow.worktree_retention_days)
        self._adopted: dict[int, asyncio.Task[None]] = {}
        self._runs: dict[int, asyncio.Task[object]] = {}  # every task running here, job or adopted
        self._cluster: ClusterDb | None = None
        self.ready = asyncio.Event()  # set once it takes jobs

    @property
    def _db(self) -> ClusterDb:
        assert self._cluster is not None, "opened by run()"
        return self._cluster

    async def run(self, stopping: asyncio.Event) -> None:
        """Work until `stopping` is set; the agents of running tasks go on in tmux."""
        db = await ClusterDb.open(self._url)
        app = await open_app(self._url, max_size=self._max_parallel + 2)
        app.task(name=RUN_TASK, pass_context=True)(self._job)
        self._cluster = db
        background: list[asyncio.Task[None]] = []
        try:
            await self._beat()
            background = [asyncio.create_task(coro, name=name) for name, coro in (
                ("capture-poller", self._poller.run()), ("heartbeat", self._heartbeats()),
                ("controls", self._controls()), ("broadcast", Broadcaster(db, self._hub).run()))]
            await self._readopt(app)
            self._housekeeping.start()
            work = asyncio.create_task(app.run_worker_async(
                queues=[queue_for(agent) for agent in self.agents], concurrency=self._max_parallel, name=self.host,
                wait=True, install_signal_handlers=False, listen_notify=True, fetch_job_polling_interval=1.0,
                shutdown_graceful_timeout=SHUTDOWN_SECONDS), name="procrastinate-worker")
            background.append(work)
            log.info("orch worker %s running agents %s (max %s)", self.host, ", ".join(self.agents),
                     self._max_parallel)
            self.ready.set()
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait([stop, work], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if work.done():
                work.result()  # the worker failed: say why
        finally:
            await self._housekeeping.stop()
            for task in [*background, *self._adopted.values()]:
                task.cancel()
            for task in [*background, *self._adopted.values()]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await app.close_async()
            await db.close()

    async def _job(self, context: procrastinate.JobContext, task_id: int) -> None:
        """The `run_task` job: take the task's lease and run it, if it still waits to run."""
        task = await self._store.get_task(task_id)
        if task is None or task.status is not TaskStatus.ROUTED:
            return  # run already, or cancelled meanwhile: each task runs once
        _, before = await self._db.take_lease(task_id, self.host)
        if before is not None and before != self.host and (task.worktree or task.base_commit):
            # It ran on another host: that host's worktree is not here; it goes on from the branch that host pushed
            # (Worktrees), else from the project's base.
            task = await self._store.update_task(task_id, worktree=None, base_commit=None)
        log.info("task %s: running here (job %s)", task_id, context.job.id)
        await self._run(task, resume=False)

    async def _run(self, task: Task, *, resume: bool) -> None:
        current_run = asyncio.current_task()
        if current_run is not None:
            self._runs[task.id] = current_run
        try:
            await self._runner.run(task, resume=resume)
        except asyncio.CancelledError:
            # Cancelled by serve (its job aborted) or this worker stopping: only the first stops the agent.
            current = await self._store.get_task(task.id)
            if current is None or current.status is TaskStatus.CANCELLED:
                await self._tmux.kill(session_name(task.id))
            raise
        finally:
            self._runs.pop(task.id, None)

    async def _readopt(self, app: procrastinate.App) -> None:
        """Take up the tasks this host ran when it stopped: their agents may still run in this home's tmux."""
        jobs = await self._db.active_jobs()
        for task_id in await self._db.tasks_held_by(self.host):
            task = await self._store.get_task(task_id)
            if task is None or task.status is not TaskStatus.IN_PROGRESS:
                continue
            if task_id in jobs:
                await finish_stale(app, jobs[task_id])  # the job of this host's previous run
            log.info("task %s: taken up again after a restart", task_id)
            self._adopted[task_id] = asyncio.create_task(self._run(task, resume=True), name=f"adopted-{task_id}")

    async def _beat(self) -> None:
        await self._db.heartbeat(self.host, self.agents, self._max_parallel, self._socket)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                await self._beat()
                await self._let_go()
            except Exception:
                log.exception("orch worker %s: the heartbeat failed", self.host)

    async def _let_go(self) -> None:
        """Stop running the tasks another host holds now (this one was taken for dead): the store refuses this
        host's writes about them anyway (the fence), and their agents must not go on working here."""
        for task_id, work in list(self._runs.items()):
            holder = await self._db.lease_of(task_id)
            if holder is not None and holder[0] != self.host:
                log.warning("task %s: host %s holds it now; stopping it here", task_id, holder[0])
                work.cancel()
                await self._tmux.kill(session_name(task_id))

    async def _controls(self) -> None:
        """Apply the control messages for this host as they come (NOTIFY), and at every heartbeat (one missed)."""
        conn = await connect(self._url)
        try:
            await conn.execute(f"LISTEN {CONTROL_CHANNEL}")
            while True:
                for control in await self._db.take_controls(self.host):
                    await self._apply(control)
                async for _ in conn.notifies(timeout=self._heartbeat_seconds, stop_after=1):
                    pass
        finally:
            await conn.close()

    async def _apply(self, control: Control) -> None:
        session = session_name(control.task_id)
        try:
            if control.kind == "say":
                await self._tmux.paste(session, control.text)
            elif control.kind == "interrupt":
                self._runner.interrupt(control.task_id)
                await self._tmux.kill(session)
        except Exception:
            log.exception("task %s: the %s from serve could not be applied", control.task_id, control.kind)

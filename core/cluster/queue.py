"""The job queue (procrastinate over the PostgreSQL store): serve defers `run_task` jobs, workers run them."""

from __future__ import annotations

import contextlib

import procrastinate
from orch.core.cluster.names import RUN_TASK, lock_for, queue_for
from orch.core.store.postgres_connect import conninfo
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Status


async def open_app(url: str, *, max_size: int = 2) -> procrastinate.App:
    """A procrastinate App on the store's database, open. Its schema is one of the store's migrations
    (orch.core.store.postgres_schema), applied when the store was opened."""
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=max_size)
    app = procrastinate.App(connector=connector)
    await app.open_async()
    return app


async def defer_run(app: procrastinate.App, task_id: int, agent: str) -> int | None:
    """Queue task `task_id` for a worker that has `agent`; the job's id, or None when one waits already."""
    lock = lock_for(task_id)
    deferrer = app.configure_task(RUN_TASK, queue=queue_for(agent), lock=lock, queueing_lock=lock)
    try:
        return await deferrer.defer_async(task_id=task_id)
    except AlreadyEnqueued:
        return None


async def finish_stale(app: procrastinate.App, job_id: int) -> None:
    """End a job whose worker died while running it (it would stay `doing`, holding its task's lock, for ever)."""
    with contextlib.suppress(ConnectorException):  # another process ended it meanwhile
        await app.job_manager.finish_job_by_id_async(job_id, Status.ABORTED, delete_job=False)

"""Chores `orch serve` does on its own now and then: removing the worktrees of tasks that ended more than
`workflow.worktree_retention_days` ago (never one with uncommitted work: orch.core.projects.cleanup)."""

from __future__ import annotations

import asyncio
import logging

from orch.core.projects.cleanup import WorktreeCleanup
from orch.core.stopping import cancel_and_wait

log = logging.getLogger("orch.housekeeping")

INTERVAL_SECONDS = 3600.0


class Housekeeping:
    def __init__(self, cleanup: WorktreeCleanup, retention_days: float | None,
                 interval: float = INTERVAL_SECONDS) -> None:
        self._cleanup = cleanup
        self._retention_days = retention_days
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._retention_days is not None:
            self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.tidy()
            except Exception:
                log.exception("housekeeping failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)

    async def tidy(self) -> None:
        cleaned = await self._cleanup.clean(self._retention_days)
        for task_id, path in cleaned.removed:
            log.info("removed the worktree of task %s (%s); its branch stays", task_id, path)
        for kept in cleaned.kept:
            log.info("kept the worktree of task %s (%s): %s", kept.task_id, kept.path, kept.why)

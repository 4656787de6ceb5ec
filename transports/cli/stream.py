"""`orch stream ID`: a task's output from the first line until it ends, also while `orch serve` runs elsewhere.

The CLI is another process than the engine, so it reads the stored chunks (OutputService) and polls; the exit
status says how the task ended: 0 done, 1 anything else. With no `orch serve` running for this home (and the
store in it: PostgreSQL workers run tasks elsewhere), nothing will add to the output: it says so on stderr, prints
what is stored and exits instead of waiting for ever.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from orch.bot.format import status_line
from orch.core.ops.serving import tasks_may_run
from orch.core.services import Services
from orch.core.tasks.models import TaskStatus
from orch.core.text import terminal_safe
from orch.transports.cli.output import show
from orch.transports.cli.runner import with_services

POLL_SECONDS = 0.1
ENDS = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)


async def stream(task_id: str, services: Services) -> int:
    task = await services.tasks.get(task_id)
    live = tasks_may_run(services.home)
    if not live and task.status not in ENDS:
        print(f"orch: orch serve is not running for {services.home.root}; task {task.id} is {task.status.value} and "
              "its output will not grow: here is what is stored", file=sys.stderr)
    last = 0
    while True:
        # Read the status before the chunks: the engine stores every chunk before it ends a task.
        task = await services.tasks.get(task.id)
        chunks = await services.output.after(task.id, last)
        for chunk in chunks:
            for line in chunk.lines:
                sys.stdout.write(terminal_safe(line) + "\n")
            last = chunk.seq
        sys.stdout.flush()
        if chunks:
            continue
        if task.status in ENDS:
            status = status_line(task, await services.tasks.attempts(task.id))
            if status:
                show(status)
            return 0 if task.status is TaskStatus.DONE else 1
        if not live:
            return 1
        await asyncio.sleep(POLL_SECONDS)


def run(args: argparse.Namespace) -> int:
    return with_services(lambda services: stream(args.id, services))

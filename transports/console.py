"""What `orch serve` tells the person at its terminal, whichever transports it runs: one ready line (home,
projects, transports, agents, routing), on the terminal transport that commands can be typed there, and — when
the terminal is not a transport itself (chat transports only) — each task created and ended, so that a serve
run for Telegram or Discord still says what it is doing. Lines go through logging with core.ops.logs.CONSOLE:
to stdout and to orch.log alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from orch.bot import format as fmt
from orch.core.events import EventHub, Subscription, TaskChanged
from orch.core.ops.logs import CONSOLE
from orch.core.services import Services
from orch.core.stopping import cancel_and_wait
from orch.core.tasks.models import TaskStatus

log = logging.getLogger("orch.serve")

TERMINAL_HINT = "type commands here (/help lists them); Ctrl-C stops orch serve"


def ready_line(home: str, projects: Sequence[str], transports: Sequence[str], agents: Sequence[str],
               routing: str) -> str:
    """`orch serve ready: home …; projects …; transports …; agents …; routing …` (one line, read at a glance)."""
    shown_projects = ", ".join(projects) if projects else "none (tasks run in a scratch repository)"
    shown_agents = ", ".join(agents) if agents else "none"
    return (f"orch serve ready: home {home}; projects: {shown_projects}; transports: {', '.join(transports)}; "
            f"agents: {shown_agents}; routing: {routing}")


def say(line: str) -> None:
    """A line for the terminal and orch.log."""
    log.info(line, extra=CONSOLE)


class TaskActivity:
    """Says on the terminal when a task is created and when it ends (for a serve with no terminal transport)."""

    def __init__(self, services: Services, hub: EventHub) -> None:
        self._services = services
        self._hub = hub
        self._seen: set[int] = set()
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        # Subscribed now, not when the listener first runs: a task a chat creates at once is heard of too.
        subscription = self._hub.subscribe(lambda event: isinstance(event, TaskChanged))
        self._listener = asyncio.create_task(self._listen(subscription), name="console-activity")

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None

    async def _listen(self, subscription: Subscription) -> None:
        try:
            async for event in subscription:
                assert isinstance(event, TaskChanged)
                try:
                    await self._tell(event)
                except Exception:  # a line not printed must not stop the next ones
                    log.exception("could not tell the terminal about task %s", event.task.id)
        finally:
            subscription.close()

    async def _tell(self, event: TaskChanged) -> None:
        task = event.task
        if task.id not in self._seen:
            self._seen.add(task.id)
            # A task the CLI (another process) created is first seen when the engine picks it up.
            if event.previous in (None, TaskStatus.NEW):
                say(fmt.created(task, with_status=False))
        line = fmt.status_line(task, await self._services.tasks.attempts(task.id), event.previous)
        if line is not None:
            say(line)

"""What `orch hosts`, `/hosts` and `orch task show` say about a cluster: its hosts, whether each is alive, and
where a task runs (with the command that attaches a terminal to its agent's pane)."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from orch.core.cluster.db import ClusterDb, Host
from orch.core.config import ClusterConfig
from orch.core.errors import UserError
from orch.core.terminal.tmux import session_name


@dataclass(frozen=True)
class HostView:
    host: Host
    alive: bool
    silent_seconds: float  # since its last heartbeat


@dataclass(frozen=True)
class Placement:
    """Where a task's agent runs: the host, its tmux server, the task's session."""

    host: str
    socket: str
    session: str

    @property
    def attach_command(self) -> str:
        return shlex.join(["ssh", self.host, "-t", "tmux", "-L", self.socket, "attach", "-t", self.session])


class HostService:
    def __init__(self, url: str, config: ClusterConfig) -> None:
        self._url = url
        self._config = config
        self._db: ClusterDb | None = None

    async def _opened(self) -> ClusterDb:
        if self._db is None:
            self._db = await ClusterDb.open(self._url)
        return self._db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()

    async def hosts(self) -> list[HostView]:
        now = time.time()
        return [HostView(host, now - host.heartbeat_at <= self._config.host_dead_after_seconds,
                         max(0.0, now - host.heartbeat_at)) for host in await (await self._opened()).hosts()]

    async def placement(self, task_id: int) -> Placement | None:
        holder = await (await self._opened()).holder(task_id)
        return Placement(holder[0], holder[1], session_name(task_id)) if holder else None

    async def send_control(self, task_id: int, kind: str, text: str = "") -> None:
        """A control message for the host that runs the task (say: type `text` into its pane)."""
        if await (await self._opened()).send_control(task_id, kind, text) is None:
            raise UserError(f"task {task_id} runs on no worker yet")

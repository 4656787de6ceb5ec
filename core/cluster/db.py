"""The cluster's own rows in the PostgreSQL store: hosts and their heartbeats, task leases, control messages, and
which tasks have a job queued or running. Its own small pool: the store's is sized for its own work."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orch.core.cluster.names import CONTROL_CHANNEL, RUN_TASK, task_of_lock
from orch.core.store import rows
from orch.core.store.postgres_connect import CONNECT_TIMEOUT_SECONDS, conninfo, unreachable
from orch.core.tasks.models import Chunk
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

Connection = AsyncConnection[TupleRow]


@dataclass(frozen=True)
class Host:
    name: str
    agents: tuple[str, ...]
    max_parallel: int
    tmux_socket: str
    heartbeat_at: float
    running: tuple[int, ...]  # the tasks it holds the lease of that are in progress


@dataclass(frozen=True)
class Control:
    """A message for the host that runs a task: `say` (type text), `interrupt` (end the turn), `cancel`."""

    id: int
    task_id: int
    kind: str
    text: str


class ClusterDb:
    def __init__(self, pool: AsyncConnectionPool[Connection]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str) -> ClusterDb:
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            conninfo(url), open=False, min_size=1, max_size=3, kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection, name="orch-cluster")
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except PoolTimeout as exc:
            await pool.close()
            raise unreachable(url, exc) from None
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

    async def heartbeat(self, name: str, agents: Sequence[str], max_parallel: int, tmux_socket: str) -> None:
        now = time.time()
        await self._all(
            "INSERT INTO cluster_hosts (name, agents, max_parallel, tmux_socket, started_at, heartbeat_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET agents = EXCLUDED.agents, "
            "max_parallel = EXCLUDED.max_parallel, tmux_socket = EXCLUDED.tmux_socket, heartbeat_at = %s",
            (name, json.dumps(list(agents)), max_parallel, tmux_socket, now, now, now))

    async def hosts(self) -> list[Host]:
        found = await self._all(
            "SELECT h.name, h.agents, h.max_parallel, h.tmux_socket, h.heartbeat_at, "
            "COALESCE(array_agg(l.task_id ORDER BY l.task_id) FILTER (WHERE t.status IN ('in_progress', 'waiting')),"
            " '{}') FROM cluster_hosts h LEFT JOIN task_leases l ON l.host = h.name "
            "LEFT JOIN tasks t ON t.id = l.task_id GROUP BY h.name ORDER BY h.name")
        return [Host(row[0], tuple(json.loads(row[1])), int(row[2]), row[3], float(row[4]),
                     tuple(int(task) for task in row[5])) for row in found]

    async def take_lease(self, task_id: int, host: str) -> tuple[int, str | None]:
        """Make `host` the task's holder (any older holder's writes are refused from now): its new lease number,
        and the host that held it before (None the first time)."""
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute("SELECT host FROM task_leases WHERE task_id = %s FOR UPDATE", (task_id,))
            before = await cursor.fetchone()
            cursor = await conn.execute(
                "INSERT INTO task_leases (task_id, host, lease, taken_at) VALUES (%s, %s, 1, %s) "
                "ON CONFLICT (task_id) DO UPDATE SET host = EXCLUDED.host, lease = task_leases.lease + 1, "
                "taken_at = EXCLUDED.taken_at RETURNING lease", (task_id, host, time.time()))
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), before[0] if before else None

    async def lease_of(self, task_id: int) -> tuple[str, int] | None:
        found = await self._all("SELECT host, lease FROM task_leases WHERE task_id = %s", (task_id,))
        return (found[0][0], int(found[0][1])) if found else None

    async def holder(self, task_id: int) -> tuple[str, str] | None:
        """The host holding the task and its tmux socket's name, if a worker runs or ran it."""
        found = await self._all("SELECT h.name, h.tmux_socket FROM task_leases l JOIN cluster_hosts h "
                                "ON h.name = l.host WHERE l.task_id = %s", (task_id,))
        return (found[0][0], found[0][1]) if found else None

    async def tasks_held_by(self, host: str) -> list[int]:
        found = await self._all(
            "SELECT l.task_id FROM task_leases l JOIN tasks t ON t.id = l.task_id WHERE l.host = %s "
            "AND t.status IN ('in_progress', 'waiting') ORDER BY l.task_id", (host,))
        return [int(row[0]) for row in found]

    async def send_control(self, task_id: int, kind: str, text: str = "") -> str | None:
        """Queue a control message for the host holding the task and wake it; that host, or None if none does."""
        holder = await self.lease_of(task_id)
        if holder is None:
            return None
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO cluster_controls (host, task_id, kind, text, created_at) "
                               "VALUES (%s, %s, %s, %s, %s)", (holder[0], task_id, kind, text, time.time()))
            await conn.execute("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, holder[0]))
        return holder[0]

    async def take_controls(self, host: str) -> list[Control]:
        """The host's waiting control messages, oldest first, marked taken."""
        found = await self._all(
            "UPDATE cluster_controls SET done_at = %s WHERE host = %s AND done_at IS NULL "
            "RETURNING id, task_id, kind, text", (time.time(), host))
        return sorted((Control(int(row[0]), int(row[1]), row[2], row[3]) for row in found), key=lambda c: c.id)

    async def active_jobs(self) -> dict[int, int]:
        """Task id -> id of its job that is queued or running."""
        found = await self._all("SELECT lock, id FROM procrastinate_jobs WHERE task_name = %s "
                                "AND status IN ('todo', 'doing')", (RUN_TASK,))
        active: dict[int, int] = {}
        for lock, job_id in found:
            task_id = task_of_lock(lock)
            if task_id is not None:
                active[task_id] = int(job_id)
        return active

    async def chunks_since(self, after: dict[int, int]) -> list[Chunk]:
        """The chunks of each task in `after` past its seq, by task then seq: many tasks in one round trip."""
        found = await self._all(
            f"SELECT {', '.join('c.' + name for name in rows.CHUNK_COLUMNS.split(', '))} FROM chunks c "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS t(id, after) ON c.task_id = t.id AND c.seq > t.after "
            "ORDER BY c.task_id, c.seq", (list(after), list(after.values())))
        return [rows.chunk_from_row(row) for row in found]

    async def notify(self, channel: str, payload: str) -> None:
        await self._all("SELECT pg_notify(%s, %s)", (channel, payload))

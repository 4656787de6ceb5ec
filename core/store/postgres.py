"""The PostgreSQL Store (psycopg 3, async, pooled): one database shared by orch processes on any number of hosts.

Same semantics as the SQLite store, written in PostgreSQL's SQL: compare-and-set by `UPDATE … WHERE`, replacing
writes by `INSERT … ON CONFLICT`, every write one transaction (its rows and, for output, the capture offset).
Rows map to records through orch.core.store.rows, as SQLite's do.

Connections come from a pool in autocommit mode: a read, or a write of one statement, is a transaction of its own
with nothing left open; a write of several statements (output with its capture offset) is `BEGIN … COMMIT` around
them. The pool checks a connection before lending it (an empty query, ~0.1 ms on a local socket), so a store
outlives a restart of the server: connections that died with it are replaced, not handed out.

A statement waits for a lock another connection holds at most `lock_timeout` (30 s, like SQLite's busy timeout);
that, or a `statement_timeout` the URL sets (`?options=-c statement_timeout=…`), ends it as Busy — one line,
nothing changed — rather than a driver error.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from orch.core.cluster.names import CHUNKS_CHANNEL
from orch.core.errors import Busy
from orch.core.store import rows
from orch.core.store.base import Store
from orch.core.store.postgres_connect import (
    CONNECT_TIMEOUT_SECONDS,
    connect,
    conninfo,
    fenced_conninfo,
    unreachable,
)
from orch.core.store.postgres_health import RecentUse
from orch.core.store.postgres_schema import migrate
from orch.core.store.records import AttemptCost, Follow, JobState, Project
from orch.core.tasks.models import (
    ATTEMPT_FIELDS,
    Attempt,
    Chunk,
    FollowUp,
    NewTask,
    Origin,
    Question,
    Review,
    RouteDecision,
    Task,
    TaskStatus,
)
from psycopg import AsyncConnection, errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

# Connections one process may hold: serve's engine, capture loop, follow pumps and transports write and read at
# once; a CLI call uses one.
POOL_MAX_SIZE = 8
Connection = AsyncConnection[TupleRow]
_ATTEMPT_KEY = ("task_id", "number")
LOCK_TIMEOUT_SECONDS = 30.0


class PostgresStore(Store):
    """The store in a PostgreSQL database. One method per Store operation, as SqliteStore has, so that this store's
    SQL stays in one place: hence its length."""

    def __init__(self, pool: AsyncConnectionPool[Connection], lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self._pool = pool
        self._lock_timeout = lock_timeout

    @classmethod
    async def open(cls, url: str, *, fence_host: str | None = None,
                   lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> PostgresStore:
        """Connect (UserError, one line, when the server cannot be reached or is too old), migrate, pool.

        `fence_host`: the `orch worker` host this store writes for; the database refuses its writes about a task
        whose lease another host holds (see the fence in orch.core.store.postgres_schema). `lock_timeout`: how
        long a statement waits for another connection's lock before it is Busy."""
        # A connection of its own first: its failure says why, where a pool would only time out.
        first = await connect(url)
        try:
            await migrate(first, url)
        finally:
            await first.close()
        info = conninfo(url) if fence_host is None else fenced_conninfo(url, fence_host)
        health = RecentUse()
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            info, open=False, min_size=1, max_size=POOL_MAX_SIZE, kwargs={"autocommit": True},
            check=health.check, reset=health.returned, name="orch-store",
            configure=functools.partial(_set_lock_timeout, lock_timeout))
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except PoolTimeout as exc:
            await pool.close()
            raise unreachable(url, exc) from None
        return cls(pool, lock_timeout)

    async def close(self) -> None:
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; a statement that waited out a lock or statement timeout is Busy."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except errors.LockNotAvailable as exc:
            raise Busy(f"the store is busy: another connection has held a lock for over {self._lock_timeout:g} s; "
                       "nothing was changed, try again") from exc
        except errors.QueryCanceled as exc:
            if "statement timeout" not in str(exc):
                raise  # cancelled on purpose (a task cancelled mid-statement), not a wait that ran out
            raise Busy("the store is busy: a statement ran past the server's statement_timeout; nothing was changed, "
                       "try again") from exc

    # Most writes are one statement, RETURNING what they wrote when the caller wants it back.

    async def _one(self, query: str, params: Sequence[Any] = ()) -> TupleRow | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def _write(self, query: str, params: Sequence[Any]) -> int:
        """Run one write statement; the number of rows it touched."""
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return cursor.rowcount

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """Several statements as one write: committed when the block ends, rolled back when it raises or is
        cancelled (a connection cancelled mid-statement is closed by the pool; the server rolls it back)."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    # tasks

    async def create_task(self, new: NewTask) -> Task:
        now = time.time()
        row = await self._one(
            "INSERT INTO tasks (title, body, status, labels, project, parent_id, created_at, updated_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {rows.TASK_COLUMNS}",
            (new.title, new.body, TaskStatus.NEW.value, rows.task_value("labels", new.labels), new.project,
             new.parent_id, now, now),
        )
        assert row is not None
        return rows.task_from_row(row)

    async def get_task(self, task_id: int) -> Task | None:
        row = await self._one(f"SELECT {rows.TASK_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
        return rows.task_from_row(row) if row else None

    async def list_tasks(
        self, status: TaskStatus | None = None, project: str | None = None, parent_id: int | None = None
    ) -> list[Task]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status.value if status else None), ("project", project),
                              ("parent_id", parent_id)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        found = await self._all(f"SELECT {rows.TASK_COLUMNS} FROM tasks{where} ORDER BY id", params)
        return [rows.task_from_row(row) for row in found]

    async def update_task(self, task_id: int, **fields: Any) -> Task:
        rows.check_updatable(fields)
        if not fields:
            task = await self.get_task(task_id)
        else:
            task = await self._set(task_id, fields, "")
        if task is None:
            raise KeyError(task_id)
        return task

    async def transition(
        self, task_id: int, to: TaskStatus, *, only_from: Iterable[TaskStatus] | None = None, **fields: Any
    ) -> Task | None:
        rows.check_updatable(fields)
        if only_from is None:
            return await self._set(task_id, {"status": to.value, **fields}, "")
        # `= ANY` of an array, so that an empty only_from matches nothing (SQL has no empty `IN ()`).
        allowed = [status.value for status in only_from]
        return await self._set(task_id, {"status": to.value, **fields}, " AND status = ANY(%s::text[])", allowed)

    async def _set(self, task_id: int, fields: dict[str, Any], condition: str, *extra: Any) -> Task | None:
        """UPDATE the task's fields and updated_at where `condition` also holds; the task after, or None."""
        assignments = "".join(f"{name} = %s, " for name in fields)
        params = [rows.task_value(name, value) for name, value in fields.items()]
        row = await self._one(
            f"UPDATE tasks SET {assignments}updated_at = %s WHERE id = %s{condition} RETURNING {rows.TASK_COLUMNS}",
            [*params, time.time(), task_id, *extra],
        )
        return rows.task_from_row(row) if row else None

    # attempts

    async def add_attempt(self, attempt: Attempt) -> None:
        # Adding an attempt again replaces it whole, as SQLite's INSERT OR REPLACE does: the columns not given
        # take their defaults from EXCLUDED.
        replace = ", ".join(f"{name} = EXCLUDED.{name}" for name in ATTEMPT_FIELDS if name not in _ATTEMPT_KEY)
        await self._write(
            "INSERT INTO attempts (task_id, number, agent, model, started_at, kind) "
            f"VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (task_id, number) DO UPDATE SET {replace}",
            (attempt.task_id, attempt.number, attempt.agent, attempt.model, attempt.started_at, attempt.kind),
        )

    async def finish_attempt(self, attempt: Attempt) -> None:
        await self._write(
            "UPDATE attempts SET finished_at = %s, exit_code = %s, outcome = %s, error = %s, summary = %s, "
            "cost_usd = %s, tokens_in = %s, tokens_out = %s, session_id = %s WHERE task_id = %s AND number = %s",
            (attempt.finished_at, attempt.exit_code, attempt.outcome, attempt.error, attempt.summary,
             attempt.cost_usd, attempt.tokens_in, attempt.tokens_out, attempt.session_id, attempt.task_id,
             attempt.number),
        )

    async def list_attempts(self, task_id: int) -> list[Attempt]:
        found = await self._all(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM attempts WHERE task_id = %s ORDER BY number", (task_id,))
        return [rows.attempt_from_row(row) for row in found]

    async def attempt_costs(self, since: float | None = None) -> list[AttemptCost]:
        found = await self._all(
            f"SELECT {', '.join('a.' + name for name in ATTEMPT_FIELDS)}, t.project FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id WHERE a.started_at >= %s ORDER BY a.started_at",
            (since or 0.0,),
        )
        return [AttemptCost(rows.attempt_from_row(row[:-1]), row[-1]) for row in found]

    # reviews

    async def add_review(self, review: Review) -> None:
        await self._write(
            f"INSERT INTO reviews ({rows.REVIEW_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (task_id, attempt) DO UPDATE SET reviewer = EXCLUDED.reviewer, model = EXCLUDED.model, "
            "decision = EXCLUDED.decision, notes = EXCLUDED.notes, comments = EXCLUDED.comments, "
            "created_at = EXCLUDED.created_at",
            rows.review_row(review),
        )

    async def list_reviews(self, task_id: int) -> list[Review]:
        found = await self._all(
            f"SELECT {rows.REVIEW_COLUMNS} FROM reviews WHERE task_id = %s ORDER BY attempt", (task_id,))
        return [rows.review_from_row(row) for row in found]

    # follow-ups

    async def add_followup(self, task_id: int, text: str, *, interrupt: bool = False,
                           source: str | None = None) -> FollowUp:
        row = await self._one(
            "INSERT INTO followups (task_id, text, interrupt, source, created_at) VALUES (%s, %s, %s, %s, %s) "
            f"RETURNING {rows.FOLLOWUP_COLUMNS}",
            (task_id, text, interrupt, source, time.time()),
        )
        assert row is not None
        return rows.followup_from_row(row)

    async def pending_followups(self, task_id: int | None = None) -> list[FollowUp]:
        where, params = (" AND task_id = %s", (task_id,)) if task_id is not None else ("", ())
        found = await self._all(
            f"SELECT {rows.FOLLOWUP_COLUMNS} FROM followups WHERE taken_at IS NULL{where} ORDER BY id", params)
        return [rows.followup_from_row(row) for row in found]

    async def take_followup(self, followup_id: int) -> bool:
        return await self._write("UPDATE followups SET taken_at = %s WHERE id = %s AND taken_at IS NULL",
                                 (time.time(), followup_id)) > 0

    # questions

    async def add_question(self, task_id: int, kind: str, text: str, options: Sequence[str] = (),
                           detail: str | None = None) -> Question:
        row = await self._one(
            "INSERT INTO questions (task_id, kind, text, options, detail, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {rows.QUESTION_COLUMNS}",
            (task_id, kind, text, rows.options_text(options), detail, time.time()),
        )
        assert row is not None
        return rows.question_from_row(row)

    async def get_question(self, question_id: int) -> Question | None:
        row = await self._one(f"SELECT {rows.QUESTION_COLUMNS} FROM questions WHERE id = %s", (question_id,))
        return rows.question_from_row(row) if row else None

    async def list_questions(self, task_id: int | None = None, *, open_only: bool = False) -> list[Question]:
        clauses = [*(["task_id = %s"] if task_id is not None else []), *(["answered_at IS NULL"] if open_only else [])]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params = (task_id,) if task_id is not None else ()
        found = await self._all(f"SELECT {rows.QUESTION_COLUMNS} FROM questions{where} ORDER BY id", params)
        return [rows.question_from_row(row) for row in found]

    async def answer_question(self, question_id: int, answer: str, answered_by: str) -> Question | None:
        row = await self._one(
            "UPDATE questions SET answer = %s, answered_by = %s, answered_at = %s WHERE id = %s "
            f"AND answered_at IS NULL RETURNING {rows.QUESTION_COLUMNS}",
            (answer, answered_by, time.time(), question_id),
        )
        return rows.question_from_row(row) if row else None

    # chat messages and origins

    async def remember_message(self, transport: str, chat_id: str, message_id: str, task_id: int) -> None:
        await self._write(
            "INSERT INTO chat_messages (transport, chat_id, message_id, task_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (transport, chat_id, message_id) DO UPDATE SET task_id = EXCLUDED.task_id",
            (transport, chat_id, message_id, task_id),
        )

    async def task_of_message(self, transport: str, chat_id: str, message_id: str) -> int | None:
        row = await self._one(
            "SELECT task_id FROM chat_messages WHERE transport = %s AND chat_id = %s AND message_id = %s",
            (transport, chat_id, message_id),
        )
        return int(row[0]) if row else None

    async def set_origin(self, origin: Origin) -> None:
        await self._write(
            f"INSERT INTO origins ({rows.ORIGIN_COLUMNS}) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (task_id) "
            "DO UPDATE SET transport = EXCLUDED.transport, chat_id = EXCLUDED.chat_id, user_id = EXCLUDED.user_id, "
            "message_id = EXCLUDED.message_id",
            rows.origin_row(origin),
        )

    async def get_origin(self, task_id: int) -> Origin | None:
        row = await self._one(f"SELECT {rows.ORIGIN_COLUMNS} FROM origins WHERE task_id = %s", (task_id,))
        return rows.origin_from_row(row) if row else None

    # output

    async def append_chunks(
        self, chunks: Sequence[Chunk], *, attempt: int | None = None, byte_offset: int | None = None
    ) -> None:
        if not chunks:
            return
        # One statement, so one round trip and one transaction: the chunks, the capture offset (when given) and
        # the notification, which is sent when it commits, so a listener (serve, for a worker's output) reads what
        # is there; one it misses costs nothing: readers follow the chunks by seq.
        columns = list(zip(*(rows.chunk_row(chunk) for chunk in chunks), strict=True))
        with_offset = attempt is not None and byte_offset is not None
        await self._write(
            f"WITH added AS (INSERT INTO chunks ({rows.CHUNK_COLUMNS}) SELECT * FROM unnest(%s::bigint[], "
            "%s::bigint[], %s::text[], %s::double precision[], %s::boolean[])), "
            "moved AS (INSERT INTO capture_offsets (task_id, attempt, byte_offset) SELECT %s, %s, %s WHERE %s "
            "ON CONFLICT (task_id, attempt) DO UPDATE SET byte_offset = EXCLUDED.byte_offset) "
            "SELECT pg_notify(%s, %s)",
            (*(list(column) for column in columns), chunks[0].task_id, attempt or 0, byte_offset or 0, with_offset,
             CHUNKS_CHANNEL, f"{chunks[0].task_id}:{chunks[0].seq}"),
        )

    async def chunks_after(self, task_id: int, after_seq: int, limit: int = 1000) -> list[Chunk]:
        found = await self._all(
            f"SELECT {rows.CHUNK_COLUMNS} FROM chunks WHERE task_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (task_id, after_seq, limit),
        )
        return [rows.chunk_from_row(row) for row in found]

    async def last_seq(self, task_id: int) -> int:
        row = await self._one("SELECT MAX(seq) FROM chunks WHERE task_id = %s", (task_id,))
        return int(row[0]) if row and row[0] is not None else 0

    async def capture_offset(self, task_id: int, attempt: int) -> int:
        row = await self._one(
            "SELECT byte_offset FROM capture_offsets WHERE task_id = %s AND attempt = %s", (task_id, attempt))
        return int(row[0]) if row else 0

    # routing

    async def save_route(self, task_id: int, decision: RouteDecision) -> None:
        await self._write(
            "INSERT INTO routes (task_id, decision, created_at) VALUES (%s, %s, %s) ON CONFLICT (task_id) "
            "DO UPDATE SET decision = EXCLUDED.decision, created_at = EXCLUDED.created_at",
            (task_id, rows.route_text(decision), time.time()),
        )

    async def get_route(self, task_id: int) -> dict[str, Any] | None:
        row = await self._one("SELECT decision FROM routes WHERE task_id = %s", (task_id,))
        return rows.route_from_text(row[0]) if row else None

    # kv

    async def kv_get(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM kv WHERE key = %s", (key,))
        return str(row[0]) if row else None

    async def kv_set(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO kv (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    # follows

    async def add_follow(self, transport: str, chat_id: str, task_id: int, last_seq: int = 0) -> None:
        await self._write(
            f"INSERT INTO follows ({rows.FOLLOW_COLUMNS}) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (transport, chat_id, task_id, last_seq),
        )

    async def remove_follow(self, transport: str, chat_id: str, task_id: int) -> bool:
        return await self._write(
            "DELETE FROM follows WHERE transport = %s AND chat_id = %s AND task_id = %s", (transport, chat_id, task_id)
        ) > 0

    async def list_follows(self, transport: str | None = None, task_id: int | None = None) -> list[Follow]:
        clauses: list[str] = []
        params: list[Any] = []
        if transport is not None:
            clauses.append("transport = %s")
            params.append(transport)
        if task_id is not None:
            clauses.append("task_id = %s")
            params.append(task_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        found = await self._all(f"SELECT {rows.FOLLOW_COLUMNS} FROM follows{where} ORDER BY task_id", params)
        return [rows.follow_from_row(row) for row in found]

    async def set_follow_seq(self, transport: str, chat_id: str, task_id: int, last_seq: int) -> None:
        await self._write(
            "UPDATE follows SET last_seq = GREATEST(last_seq, %s) WHERE transport = %s AND chat_id = %s "
            "AND task_id = %s",
            (last_seq, transport, chat_id, task_id),
        )

    # projects

    async def add_project(self, project: Project) -> None:
        await self._write(
            f"INSERT INTO projects ({rows.PROJECT_COLUMNS}) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) "
            "DO UPDATE SET path = EXCLUDED.path, default_branch = EXCLUDED.default_branch, "
            "managed = EXCLUDED.managed, url = EXCLUDED.url",
            rows.project_row(project),
        )

    async def get_project(self, name: str) -> Project | None:
        row = await self._one(f"SELECT {rows.PROJECT_COLUMNS} FROM projects WHERE name = %s", (name,))
        return rows.project_from_row(row) if row else None

    async def list_projects(self) -> list[Project]:
        found = await self._all(f"SELECT {rows.PROJECT_COLUMNS} FROM projects ORDER BY name")
        return [rows.project_from_row(row) for row in found]

    async def remove_project(self, name: str) -> bool:
        return await self._write("DELETE FROM projects WHERE name = %s", (name,)) > 0

    # scheduled jobs

    async def list_job_states(self) -> dict[int, JobState]:
        found = await self._all(f"SELECT {rows.JOB_STATE_COLUMNS} FROM job_state")
        return {row[0]: rows.job_state_from_row(row) for row in found}

    async def reset_job_state(self, job_id: int, schedule: str, handled_until: float) -> JobState:
        row = await self._one(
            "INSERT INTO job_state (job_id, schedule, handled_until) VALUES (%s, %s, %s) ON CONFLICT (job_id) "
            "DO UPDATE SET schedule = EXCLUDED.schedule, handled_until = EXCLUDED.handled_until "
            f"RETURNING {rows.JOB_STATE_COLUMNS}",
            (job_id, schedule, handled_until),
        )
        assert row is not None
        return rows.job_state_from_row(row)

    async def claim_job_slot(self, job_id: int, seen_until: float, until: float, slot: float | None) -> bool:
        return await self._write(
            "UPDATE job_state SET handled_until = %s, last_slot = COALESCE(%s, last_slot) "
            "WHERE job_id = %s AND handled_until = %s",
            (until, slot, job_id, seen_until),
        ) > 0

    async def set_job_task(self, job_id: int, task_id: int) -> None:
        await self._write("UPDATE job_state SET last_task_id = %s WHERE job_id = %s", (task_id, job_id))

    async def delete_job_state(self, job_id: int) -> None:
        await self._write("DELETE FROM job_state WHERE job_id = %s", (job_id,))


async def _set_lock_timeout(seconds: float, conn: Connection) -> None:
    # SET cannot take a parameter; the value is a number orch gives, never text from outside.
    await conn.execute(f"SET lock_timeout = {int(seconds * 1000)}")

"""The SQLite Store (aiosqlite, WAL): orch's embedded default.

WAL plus a busy timeout lets `orch serve` and the CLI processes interleave on one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from orch.core.errors import Busy, UserError
from orch.core.home import private_dirs, touch_private
from orch.core.store import rows, sqlite_reads
from orch.core.store.base import Store
from orch.core.store.records import AttemptCost, Follow, JobState, Project
from orch.core.store.sqlite_schema import MIGRATIONS
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

T = TypeVar("T")
# How long a connection waits for another process's write lock before it gives up with "database is locked".
BUSY_TIMEOUT_SECONDS = 30.0


async def _use_wal(db: aiosqlite.Connection) -> None:
    """Switch the file to WAL; it stays so, later opens find it done. Two processes switching a fresh file at the
    same moment get "database is locked" from SQLite at once, without waiting out the busy timeout: retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.005)


class SqliteStore(Store):
    def __init__(self, db: aiosqlite.Connection, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self._db = db
        self._busy_timeout = busy_timeout
        # One connection serves every coroutine, one use at a time. Interleaved, two writes share one transaction
        # (one's commit takes the other's half-done statements, one's rollback undoes the other's work), and a
        # read whose statement is still open pins an old snapshot that makes the next write fail as "locked".
        self._turn = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> SqliteStore:
        """`busy_timeout`: how long a write waits for another process's lock before it is Busy."""
        private_dirs(path.parent)
        touch_private(path)  # it holds every task's output; SQLite gives its -wal and -shm files the same mode
        db = await aiosqlite.connect(str(path), timeout=busy_timeout)
        try:
            await _use_wal(db)
            await db.execute("PRAGMA synchronous=NORMAL")
            store = cls(db, busy_timeout)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write: committed when the block ends, rolled back when it raises or is cancelled. Left open, a
        failed write would keep the database's write lock from every other process, and the next write on this
        connection would commit what was left of it. A lock held by another process past the busy timeout is
        Busy: one line for whoever asked, nothing written."""
        try:
            async with self._turn:
                try:
                    yield self._db
                except BaseException:
                    await self._db.rollback()
                    raise
                await self._db.commit()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise Busy(f"orch.db is busy: another process has held it locked for over {self._busy_timeout:g} s; "
                       "nothing was changed, try again") from exc

    async def _user_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:  # inside the migration's turn
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self._user_version()
        if version > len(MIGRATIONS):
            # Its tables may mean something this version does not know: reading them would be guessing.
            raise UserError(f"orch.db has schema {version}, written by a newer orch (this one knows up to "
                            f"{len(MIGRATIONS)}); upgrade orch")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            async with self._transaction() as db:
                # BEGIN IMMEDIATE so two processes opening a fresh database do not both migrate it.
                await db.execute("BEGIN IMMEDIATE")
                if await self._user_version() >= number:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(f"PRAGMA user_version={number}")

    async def close(self) -> None:
        await self._db.close()

    async def create_task(self, new: NewTask) -> Task:
        now = time.time()
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO tasks (title, body, status, labels, project, parent_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (new.title, new.body, TaskStatus.NEW.value, rows.task_value("labels", new.labels), new.project,
                 new.parent_id, now, now),
            )
        task_id = cursor.lastrowid
        assert task_id is not None
        task = await self.get_task(task_id)
        assert task is not None
        return task

    async def _read(self, query: sqlite_reads.Read[T]) -> T:
        async with self._turn, self._db.execute(query.sql, query.params) as cursor:
            return query.convert(list(await cursor.fetchall()))

    async def get_task(self, task_id: int) -> Task | None:
        return await self._read(sqlite_reads.task(task_id))

    async def list_tasks(
        self, status: TaskStatus | None = None, project: str | None = None, parent_id: int | None = None
    ) -> list[Task]:
        return await self._read(sqlite_reads.tasks(status, project, parent_id))

    async def update_task(self, task_id: int, **fields: Any) -> Task:
        rows.check_updatable(fields)
        if fields:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            params = [rows.task_value(name, value) for name, value in fields.items()]
            async with self._transaction() as db:
                await db.execute(
                    f"UPDATE tasks SET {assignments}, updated_at = ? WHERE id = ?", [*params, time.time(), task_id]
                )
        task = await self.get_task(task_id)
        if task is None:
            raise KeyError(task_id)
        return task

    async def transition(
        self, task_id: int, to: TaskStatus, *, only_from: Iterable[TaskStatus] | None = None, **fields: Any
    ) -> Task | None:
        rows.check_updatable(fields)
        assignments = "".join(f", {name} = ?" for name in fields)
        params: list[Any] = [to.value, *(rows.task_value(name, value) for name, value in fields.items()), time.time(),
                             task_id]
        condition = ""
        if only_from is not None:
            allowed = [status.value for status in only_from]
            condition = f" AND status IN ({', '.join('?' for _ in allowed)})"
            params.extend(allowed)
        async with self._transaction() as db:
            cursor = await db.execute(
                f"UPDATE tasks SET status = ?{assignments}, updated_at = ? WHERE id = ?{condition}", params
            )
        if cursor.rowcount == 0:
            return None
        return await self.get_task(task_id)

    async def add_attempt(self, attempt: Attempt) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO attempts (task_id, number, agent, model, started_at, kind) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (attempt.task_id, attempt.number, attempt.agent, attempt.model, attempt.started_at, attempt.kind),
            )

    async def finish_attempt(self, attempt: Attempt) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE attempts SET finished_at = ?, exit_code = ?, outcome = ?, error = ?, summary = ?, "
                "cost_usd = ?, tokens_in = ?, tokens_out = ?, session_id = ? WHERE task_id = ? AND number = ?",
                (attempt.finished_at, attempt.exit_code, attempt.outcome, attempt.error, attempt.summary,
                 attempt.cost_usd, attempt.tokens_in, attempt.tokens_out, attempt.session_id, attempt.task_id,
                 attempt.number),
            )

    async def list_attempts(self, task_id: int) -> list[Attempt]:
        return await self._read(sqlite_reads.attempts(task_id))

    async def attempt_costs(self, since: float | None = None) -> list[AttemptCost]:
        async with self._turn, self._db.execute(
            f"SELECT {', '.join('a.' + name for name in ATTEMPT_FIELDS)}, t.project FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id WHERE a.started_at >= ? ORDER BY a.started_at",
            (since or 0.0,),
        ) as cursor:
            found = await cursor.fetchall()
        return [AttemptCost(rows.attempt_from_row(row[:-1]), row[-1]) for row in found]

    async def add_review(self, review: Review) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"INSERT OR REPLACE INTO reviews ({rows.REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows.review_row(review),
            )

    async def add_followup(self, task_id: int, text: str, *, interrupt: bool = False,
                           source: str | None = None) -> FollowUp:
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO followups (task_id, text, interrupt, source, created_at) VALUES (?, ?, ?, ?, ?)",
                (task_id, text, int(interrupt), source, time.time()))
        followup_id = cursor.lastrowid
        assert followup_id is not None
        return next(f for f in await self.pending_followups(task_id) if f.id == followup_id)

    async def pending_followups(self, task_id: int | None = None) -> list[FollowUp]:
        where, params = ("AND task_id = ?", (task_id,)) if task_id is not None else ("", ())
        async with self._turn, self._db.execute(
            f"SELECT {rows.FOLLOWUP_COLUMNS} FROM followups WHERE taken_at IS NULL {where} ORDER BY id", params
        ) as cursor:
            found = await cursor.fetchall()
        return [rows.followup_from_row(row) for row in found]

    async def take_followup(self, followup_id: int) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("UPDATE followups SET taken_at = ? WHERE id = ? AND taken_at IS NULL",
                                      (time.time(), followup_id))
        return cursor.rowcount > 0

    async def add_question(self, task_id: int, kind: str, text: str, options: Sequence[str] = (),
                           detail: str | None = None) -> Question:
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO questions (task_id, kind, text, options, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, kind, text, rows.options_text(options), detail, time.time()))
        question_id = cursor.lastrowid
        assert question_id is not None
        question = await self.get_question(question_id)
        assert question is not None
        return question

    async def get_question(self, question_id: int) -> Question | None:
        async with self._turn, self._db.execute(f"SELECT {rows.QUESTION_COLUMNS} FROM questions WHERE id = ?",
                                    (question_id,)) as cursor:
            row = await cursor.fetchone()
        return rows.question_from_row(row) if row else None

    async def list_questions(self, task_id: int | None = None, *, open_only: bool = False) -> list[Question]:
        return await self._read(sqlite_reads.questions(task_id, open_only))

    async def answer_question(self, question_id: int, answer: str, answered_by: str) -> Question | None:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE questions SET answer = ?, answered_by = ?, answered_at = ? WHERE id = ? "
                "AND answered_at IS NULL", (answer, answered_by, time.time(), question_id))
        return await self.get_question(question_id) if cursor.rowcount else None

    async def remember_message(self, transport: str, chat_id: str, message_id: str, task_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("INSERT OR REPLACE INTO chat_messages (transport, chat_id, message_id, task_id) "
                             "VALUES (?, ?, ?, ?)", (transport, chat_id, message_id, task_id))

    async def task_of_message(self, transport: str, chat_id: str, message_id: str) -> int | None:
        async with self._turn, self._db.execute(
            "SELECT task_id FROM chat_messages WHERE transport = ? AND chat_id = ? AND message_id = ?",
            (transport, chat_id, message_id),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else None

    async def set_origin(self, origin: Origin) -> None:
        async with self._transaction() as db:
            await db.execute(f"INSERT OR REPLACE INTO origins ({rows.ORIGIN_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                             rows.origin_row(origin))

    async def get_origin(self, task_id: int) -> Origin | None:
        async with self._turn, self._db.execute(
            f"SELECT {rows.ORIGIN_COLUMNS} FROM origins WHERE task_id = ?", (task_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return rows.origin_from_row(row) if row else None

    async def list_reviews(self, task_id: int) -> list[Review]:
        return await self._read(sqlite_reads.reviews(task_id))

    async def append_chunks(
        self, chunks: Sequence[Chunk], *, attempt: int | None = None, byte_offset: int | None = None
    ) -> None:
        async with self._transaction() as db:
            await db.executemany(
                f"INSERT INTO chunks ({rows.CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                [rows.chunk_row(c) for c in chunks],
            )
            if attempt is not None and byte_offset is not None and chunks:
                await db.execute(
                    "INSERT OR REPLACE INTO capture_offsets (task_id, attempt, byte_offset) VALUES (?, ?, ?)",
                    (chunks[0].task_id, attempt, byte_offset),
                )

    async def chunks_after(self, task_id: int, after_seq: int, limit: int = 1000) -> list[Chunk]:
        async with self._turn, self._db.execute(
            f"SELECT {rows.CHUNK_COLUMNS} FROM chunks WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (task_id, after_seq, limit),
        ) as cursor:
            found = await cursor.fetchall()
        return [rows.chunk_from_row(row) for row in found]

    async def last_seq(self, task_id: int) -> int:
        async with self._turn, self._db.execute("SELECT MAX(seq) FROM chunks WHERE task_id = ?", (task_id,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def capture_offset(self, task_id: int, attempt: int) -> int:
        async with self._turn, self._db.execute(
            "SELECT byte_offset FROM capture_offsets WHERE task_id = ? AND attempt = ?", (task_id, attempt)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def save_route(self, task_id: int, decision: RouteDecision) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO routes (task_id, decision, created_at) VALUES (?, ?, ?)",
                (task_id, rows.route_text(decision), time.time()),
            )

    async def get_route(self, task_id: int) -> dict[str, Any] | None:
        return await self._read(sqlite_reads.route(task_id))

    async def kv_get(self, key: str) -> str | None:
        async with self._turn, self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def kv_set(self, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    async def add_follow(self, transport: str, chat_id: str, task_id: int, last_seq: int = 0) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO follows (transport, chat_id, task_id, last_seq) VALUES (?, ?, ?, ?)",
                (transport, chat_id, task_id, last_seq),
            )

    async def remove_follow(self, transport: str, chat_id: str, task_id: int) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM follows WHERE transport = ? AND chat_id = ? AND task_id = ?", (transport, chat_id, task_id)
            )
        return cursor.rowcount > 0

    async def list_follows(self, transport: str | None = None, task_id: int | None = None) -> list[Follow]:
        clauses: list[str] = []
        params: list[Any] = []
        if transport is not None:
            clauses.append("transport = ?")
            params.append(transport)
        if task_id is not None:
            clauses.append("task_id = ?")
            params.append(task_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self._turn, self._db.execute(
            f"SELECT {rows.FOLLOW_COLUMNS} FROM follows{where} ORDER BY task_id", params
        ) as cursor:
            found = await cursor.fetchall()
        return [rows.follow_from_row(row) for row in found]

    async def set_follow_seq(self, transport: str, chat_id: str, task_id: int, last_seq: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE follows SET last_seq = MAX(last_seq, ?) WHERE transport = ? AND chat_id = ? AND task_id = ?",
                (last_seq, transport, chat_id, task_id),
            )

    async def add_project(self, project: Project) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"INSERT OR REPLACE INTO projects ({rows.PROJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                rows.project_row(project),
            )

    async def get_project(self, name: str) -> Project | None:
        async with self._turn, self._db.execute(
            f"SELECT {rows.PROJECT_COLUMNS} FROM projects WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        return rows.project_from_row(row) if row else None

    async def list_projects(self) -> list[Project]:
        async with self._turn, self._db.execute(f"SELECT {rows.PROJECT_COLUMNS} FROM projects ORDER BY name") as cursor:
            found = await cursor.fetchall()
        return [rows.project_from_row(row) for row in found]

    async def remove_project(self, name: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM projects WHERE name = ?", (name,))
        return cursor.rowcount > 0

    async def list_job_states(self) -> dict[int, JobState]:
        async with self._turn, self._db.execute(f"SELECT {rows.JOB_STATE_COLUMNS} FROM job_state") as cursor:
            found = await cursor.fetchall()
        return {row[0]: rows.job_state_from_row(row) for row in found}

    async def reset_job_state(self, job_id: int, schedule: str, handled_until: float) -> JobState:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO job_state (job_id, schedule, handled_until) VALUES (?, ?, ?) ON CONFLICT(job_id) "
                "DO UPDATE SET schedule = excluded.schedule, handled_until = excluded.handled_until",
                (job_id, schedule, handled_until),
            )
        states = await self.list_job_states()
        return states[job_id]

    async def claim_job_slot(self, job_id: int, seen_until: float, until: float, slot: float | None) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE job_state SET handled_until = ?, last_slot = COALESCE(?, last_slot) "
                "WHERE job_id = ? AND handled_until = ?",
                (until, slot, job_id, seen_until),
            )
        return cursor.rowcount > 0

    async def set_job_task(self, job_id: int, task_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE job_state SET last_task_id = ? WHERE job_id = ?", (task_id, job_id))

    async def delete_job_state(self, job_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM job_state WHERE job_id = ?", (job_id,))

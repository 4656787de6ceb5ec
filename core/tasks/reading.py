"""Reading tasks without an event loop — the read side of TaskService for the CLI's quick commands, on SQLite.

`TaskReading.open` gives one only where it can answer alone: the SQLite store of ORCH_HOME, already at the current
schema. Otherwise (a PostgreSQL URL, a new or older file) it is None and the command uses the async services.
"""

from __future__ import annotations

from typing import Any

from orch.core.errors import NotFound
from orch.core.home import OrchHome
from orch.core.ids import parse_id
from orch.core.store import sqlite_reads
from orch.core.store.location import store_url
from orch.core.store.snapshot import SqliteSnapshot
from orch.core.tasks.models import Attempt, Question, Review, Task, parse_status


class TaskReading:
    def __init__(self, snapshot: SqliteSnapshot) -> None:
        self._snapshot = snapshot

    @classmethod
    def open(cls, home: OrchHome) -> TaskReading | None:
        if store_url(home):
            return None
        snapshot = SqliteSnapshot.open(home.db_file)
        return cls(snapshot) if snapshot is not None else None

    def close(self) -> None:
        self._snapshot.close()

    def get(self, task_id: int | str) -> Task:
        number = parse_id(task_id, "task")
        task = self._snapshot.read(sqlite_reads.task(number))
        if task is None:
            raise NotFound(f"task {number} not found")
        return task

    def list_tasks(self, status: str | None = None, project: str | None = None) -> list[Task]:
        return self._snapshot.read(sqlite_reads.tasks(parse_status(status), project, None))

    def attempts(self, task_id: int) -> list[Attempt]:
        return self._snapshot.read(sqlite_reads.attempts(task_id))

    def reviews(self, task_id: int) -> list[Review]:
        return self._snapshot.read(sqlite_reads.reviews(task_id))

    def questions(self, task_id: int) -> list[Question]:
        return self._snapshot.read(sqlite_reads.questions(task_id, False))

    def route_record(self, task_id: int) -> dict[str, Any] | None:
        return self._snapshot.read(sqlite_reads.route(task_id))

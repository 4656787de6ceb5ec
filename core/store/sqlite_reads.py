"""The SQLite store's reads that both its async store and the synchronous snapshot make: the SQL, its parameters,
and how the rows become records — written once, run by either."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from orch.core.store import rows
from orch.core.tasks.models import Attempt, Question, Review, Task, TaskStatus

T = TypeVar("T")
Rows = list[Sequence[Any]]


@dataclass(frozen=True)
class Read(Generic[T]):
    sql: str
    params: tuple[Any, ...]
    convert: Callable[[Rows], T]


def task(task_id: int) -> Read[Task | None]:
    return Read(f"SELECT {rows.TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,),
                lambda found: rows.task_from_row(found[0]) if found else None)


def tasks(status: TaskStatus | None, project: str | None, parent_id: int | None) -> Read[list[Task]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", status.value if status else None), ("project", project),
                          ("parent_id", parent_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return Read(f"SELECT {rows.TASK_COLUMNS} FROM tasks{where} ORDER BY id", tuple(params),
                lambda found: [rows.task_from_row(row) for row in found])


def attempts(task_id: int) -> Read[list[Attempt]]:
    return Read(f"SELECT {rows.ATTEMPT_COLUMNS} FROM attempts WHERE task_id = ? ORDER BY number", (task_id,),
                lambda found: [rows.attempt_from_row(row) for row in found])


def reviews(task_id: int) -> Read[list[Review]]:
    return Read(f"SELECT {rows.REVIEW_COLUMNS} FROM reviews WHERE task_id = ? ORDER BY attempt", (task_id,),
                lambda found: [rows.review_from_row(row) for row in found])


def questions(task_id: int | None, open_only: bool) -> Read[list[Question]]:
    clauses = [*(["task_id = ?"] if task_id is not None else []), *(["answered_at IS NULL"] if open_only else [])]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return Read(f"SELECT {rows.QUESTION_COLUMNS} FROM questions{where} ORDER BY id",
                (task_id,) if task_id is not None else (),
                lambda found: [rows.question_from_row(row) for row in found])


def route(task_id: int) -> Read[dict[str, Any] | None]:
    return Read("SELECT decision FROM routes WHERE task_id = ?", (task_id,),
                lambda found: rows.route_from_text(found[0][0]) if found else None)

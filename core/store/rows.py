"""Records ↔ table rows, shared by the SQL stores (SQLite and PostgreSQL): what their SQL reads and writes.

Both stores keep the same columns with the same meaning: times are Unix seconds, and labels, review comments,
question options and route decisions are JSON text (not PostgreSQL's jsonb), so one mapping serves both and a
row read from either store becomes the same record. Column lists follow TASK_FIELDS and ATTEMPT_FIELDS, so a
field added to Task or Attempt needs only its column (a migration in each store).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from orch.core.store.records import Follow, JobState, Project
from orch.core.tasks.models import (
    ATTEMPT_FIELDS,
    TASK_FIELDS,
    Attempt,
    Chunk,
    FollowUp,
    Origin,
    Question,
    Review,
    ReviewComment,
    RouteDecision,
    Task,
    TaskStatus,
)

TASK_COLUMNS = ", ".join(TASK_FIELDS)
ATTEMPT_COLUMNS = ", ".join(ATTEMPT_FIELDS)
REVIEW_COLUMNS = "task_id, attempt, reviewer, model, decision, notes, comments, created_at"
CHUNK_COLUMNS = "task_id, seq, content, ts, is_final"
FOLLOW_COLUMNS = "transport, chat_id, task_id, last_seq"
PROJECT_COLUMNS = "name, path, default_branch, managed, url"
JOB_STATE_COLUMNS = "job_id, schedule, handled_until, last_slot, last_task_id"
FOLLOWUP_COLUMNS = "id, task_id, text, interrupt, source, created_at, taken_at"
QUESTION_COLUMNS = "id, task_id, kind, text, options, detail, created_at, answer, answered_by, answered_at"
ORIGIN_COLUMNS = "task_id, transport, chat_id, user_id, message_id"
# The status moves only through transition; ids and times are the store's own.
UPDATABLE = frozenset(TASK_FIELDS) - {"id", "status", "created_at", "updated_at"}


def check_updatable(fields: Iterable[str]) -> None:
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")


def task_value(field: str, value: Any) -> Any:
    """A task field's value as its column holds it."""
    if field == "labels":
        return json.dumps(list(value))
    return value


def task_from_row(row: Sequence[Any]) -> Task:
    values = dict(zip(TASK_FIELDS, row, strict=True))
    values["status"] = TaskStatus(values["status"])
    values["labels"] = tuple(json.loads(values["labels"]))
    return Task(**values)


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    return Attempt(*row)


def review_row(review: Review) -> tuple[Any, ...]:
    comments = [{"path": c.path, "line": c.line, "body": c.body} for c in review.comments]
    return (review.task_id, review.attempt, review.reviewer, review.model, review.decision, review.notes,
            json.dumps(comments), review.created_at)


def review_from_row(row: Sequence[Any]) -> Review:
    comments = tuple(ReviewComment(c["path"], c["line"], c["body"]) for c in json.loads(row[6]))
    return Review(row[0], row[1], row[2], row[3], row[4], row[5], comments, row[7])


def chunk_row(chunk: Chunk) -> tuple[Any, ...]:
    return chunk.task_id, chunk.seq, chunk.content, chunk.timestamp, chunk.is_final


def chunk_from_row(row: Sequence[Any]) -> Chunk:
    return Chunk(row[0], row[1], row[2], row[3], bool(row[4]))


def route_text(decision: RouteDecision) -> str:
    return json.dumps(decision.to_json())


def route_from_text(text: str) -> dict[str, Any]:
    decision: dict[str, Any] = json.loads(text)
    return decision


def follow_from_row(row: Sequence[Any]) -> Follow:
    return Follow(row[0], row[1], row[2], row[3])


def project_row(project: Project) -> tuple[Any, ...]:
    return project.name, project.path, project.default_branch, project.managed, project.url


def project_from_row(row: Sequence[Any]) -> Project:
    return Project(row[0], row[1], row[2], bool(row[3]), row[4])


def job_state_from_row(row: Sequence[Any]) -> JobState:
    return JobState(row[0], row[1], row[2], row[3], row[4])


def followup_from_row(row: Sequence[Any]) -> FollowUp:
    return FollowUp(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6])


def options_text(options: Sequence[str]) -> str:
    return json.dumps(list(options))


def question_from_row(row: Sequence[Any]) -> Question:
    return Question(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), *row[5:])


def origin_row(origin: Origin) -> tuple[Any, ...]:
    return origin.task_id, origin.transport, origin.chat_id, origin.user_id, origin.message_id


def origin_from_row(row: Sequence[Any]) -> Origin:
    return Origin(row[0], row[1], row[2], row[3], row[4])

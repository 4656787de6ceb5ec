"""The Store seam: everything orch remembers, and the records it hands back.

Several processes share one store: `orch serve` and any number of `orch` CLI calls (and, with PostgreSQL,
workers on other hosts). Status changes use compare-and-set so a CLI cancel and an engine transition never
overwrite each other silently. Implementations: SqliteStore (orch.core.store.sqlite), the default, and
PostgresStore (orch.core.store.postgres), chosen by a URL (orch.core.store.location).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from orch.core.store.records import AttemptCost, Follow, JobState, Project
from orch.core.tasks.models import (
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


class Store(ABC):
    """Everything orch remembers. Implementations must be safe to share between processes."""

    @abstractmethod
    async def close(self) -> None: ...

    # tasks
    @abstractmethod
    async def create_task(self, new: NewTask) -> Task: ...
    @abstractmethod
    async def get_task(self, task_id: int) -> Task | None: ...
    @abstractmethod
    async def list_tasks(
        self, status: TaskStatus | None = None, project: str | None = None, parent_id: int | None = None
    ) -> list[Task]: ...
    @abstractmethod
    async def update_task(self, task_id: int, **fields: Any) -> Task: ...
    @abstractmethod
    async def transition(
        self, task_id: int, to: TaskStatus, *, only_from: Iterable[TaskStatus] | None = None, **fields: Any
    ) -> Task | None:
        """Set the status (and fields) if the current status is in `only_from`; None when it was not."""

    # attempts
    @abstractmethod
    async def add_attempt(self, attempt: Attempt) -> None: ...
    @abstractmethod
    async def finish_attempt(self, attempt: Attempt) -> None: ...
    @abstractmethod
    async def list_attempts(self, task_id: int) -> list[Attempt]: ...
    @abstractmethod
    async def attempt_costs(self, since: float | None = None) -> list[AttemptCost]:
        """Every attempt (work and review) started at or after `since`, oldest first, with its project."""

    # reviews
    @abstractmethod
    async def add_review(self, review: Review) -> None: ...
    @abstractmethod
    async def list_reviews(self, task_id: int) -> list[Review]: ...

    # follow-ups: text for the agent's next turn, in order
    @abstractmethod
    async def add_followup(self, task_id: int, text: str, *, interrupt: bool = False,
                           source: str | None = None) -> FollowUp: ...
    @abstractmethod
    async def pending_followups(self, task_id: int | None = None) -> list[FollowUp]:
        """Follow-ups no attempt has taken yet (of one task, or of every task), oldest first."""

    @abstractmethod
    async def take_followup(self, followup_id: int) -> bool:
        """Mark a follow-up taken by an attempt; False when it was taken already."""

    # questions the agent asks, and tool approvals
    @abstractmethod
    async def add_question(self, task_id: int, kind: str, text: str, options: Sequence[str] = (),
                           detail: str | None = None) -> Question: ...
    @abstractmethod
    async def get_question(self, question_id: int) -> Question | None: ...
    @abstractmethod
    async def list_questions(self, task_id: int | None = None, *, open_only: bool = False) -> list[Question]: ...
    @abstractmethod
    async def answer_question(self, question_id: int, answer: str, answered_by: str) -> Question | None:
        """Record the answer if the question is still open (compare-and-set); None when it was answered."""

    # which task a chat message is about, and where a task was asked for
    @abstractmethod
    async def remember_message(self, transport: str, chat_id: str, message_id: str, task_id: int) -> None: ...
    @abstractmethod
    async def task_of_message(self, transport: str, chat_id: str, message_id: str) -> int | None: ...
    @abstractmethod
    async def set_origin(self, origin: Origin) -> None: ...
    @abstractmethod
    async def get_origin(self, task_id: int) -> Origin | None: ...

    # output
    @abstractmethod
    async def append_chunks(
        self, chunks: Sequence[Chunk], *, attempt: int | None = None, byte_offset: int | None = None
    ) -> None:
        """Store chunks and, in the same transaction, how far the raw output has been consumed."""

    @abstractmethod
    async def chunks_after(self, task_id: int, after_seq: int, limit: int = 1000) -> list[Chunk]: ...
    @abstractmethod
    async def last_seq(self, task_id: int) -> int: ...
    @abstractmethod
    async def capture_offset(self, task_id: int, attempt: int) -> int: ...

    # routing
    @abstractmethod
    async def save_route(self, task_id: int, decision: RouteDecision) -> None: ...
    @abstractmethod
    async def get_route(self, task_id: int) -> dict[str, Any] | None: ...

    # small named values: transport cursors, round-robin position
    @abstractmethod
    async def kv_get(self, key: str) -> str | None: ...
    @abstractmethod
    async def kv_set(self, key: str, value: str) -> None: ...

    # chats that follow tasks
    @abstractmethod
    async def add_follow(self, transport: str, chat_id: str, task_id: int, last_seq: int = 0) -> None: ...
    @abstractmethod
    async def remove_follow(self, transport: str, chat_id: str, task_id: int) -> bool: ...
    @abstractmethod
    async def list_follows(self, transport: str | None = None, task_id: int | None = None) -> list[Follow]: ...
    @abstractmethod
    async def set_follow_seq(self, transport: str, chat_id: str, task_id: int, last_seq: int) -> None: ...

    # projects
    @abstractmethod
    async def add_project(self, project: Project) -> None: ...
    @abstractmethod
    async def get_project(self, name: str) -> Project | None: ...
    @abstractmethod
    async def list_projects(self) -> list[Project]: ...
    @abstractmethod
    async def remove_project(self, name: str) -> bool: ...

    # scheduled jobs (their definitions live in jobs.yml; this is what has been fired)
    @abstractmethod
    async def list_job_states(self) -> dict[int, JobState]: ...
    @abstractmethod
    async def reset_job_state(self, job_id: int, schedule: str, handled_until: float) -> JobState:
        """Start the job's slots afresh from `handled_until`, keeping what it fired last."""

    @abstractmethod
    async def claim_job_slot(self, job_id: int, seen_until: float, until: float, slot: float | None) -> bool:
        """Move handled_until from `seen_until` to `until` (recording `slot` as fired when given); False when
        another process moved it first, so only one of them fires."""

    @abstractmethod
    async def set_job_task(self, job_id: int, task_id: int) -> None: ...
    @abstractmethod
    async def delete_job_state(self, job_id: int) -> None: ...

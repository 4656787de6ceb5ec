"""Values shared by every part of orch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from orch.core.errors import UserError
from orch.core.names import TaskStatus as TaskStatus  # re-exported: the status of a Task, named in names.py
from orch.core.times import iso_time


def parse_status(text: str | None) -> TaskStatus | None:
    """A status a person typed (None for none); UserError naming the statuses when it is not one."""
    if not text:
        return None
    try:
        return TaskStatus(text)
    except ValueError:
        raise UserError(f"unknown status {text!r} (one of {', '.join(s.value for s in TaskStatus)})") from None


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    body: str
    status: TaskStatus
    labels: tuple[str, ...] = ()
    project: str | None = None
    parent_id: int | None = None
    agent: str | None = None
    model: str | None = None
    complexity: str | None = None
    route_reason: str | None = None
    branch: str | None = None
    worktree: str | None = None
    attempts: int = 0
    summary: str | None = None
    review_reason: str | None = None
    cost_usd: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    base_branch: str | None = None  # the branch the task's branch started from
    base_commit: str | None = None  # where it started: `orch task diff` compares against this
    next_step: str | None = None  # what the next run does first: "review" (asked for), else attempts
    review_decision: str | None = None  # approve | request_changes | reject | error, of the last review
    delivered: str | None = None  # push | pr | merge, once delivered
    pr_url: str | None = None
    merge_commit: str | None = None
    diff_files: int | None = None  # files changed against the base, and lines added/removed
    diff_added: int | None = None
    diff_removed: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in TASK_FIELDS}
        data["status"] = self.status.value
        data["labels"] = list(self.labels)
        data["created_at"] = iso_time(self.created_at)
        data["updated_at"] = iso_time(self.updated_at)
        return data


TASK_FIELDS = tuple(f.name for f in fields(Task))


@dataclass(frozen=True)
class NewTask:
    """What a person asks for; the store turns it into a Task with an id."""

    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    project: str | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class Attempt:
    task_id: int
    number: int
    agent: str
    model: str | None
    started_at: float
    finished_at: float | None = None
    exit_code: int | None = None
    outcome: str | None = None  # done | failed | timeout | cancelled | error kind
    error: str | None = None
    summary: str | None = None
    cost_usd: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    kind: str = "work"  # work | review
    session_id: str | None = None  # the agent's own session, resumed by a follow-up

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ATTEMPT_FIELDS}
        data["started_at"] = iso_time(self.started_at)
        data["finished_at"] = iso_time(self.finished_at)
        return data


ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


@dataclass(frozen=True)
class ReviewComment:
    path: str
    line: int | None
    body: str


@dataclass(frozen=True)
class Review:
    """What a reviewing agent decided about a task's change (one per review attempt)."""

    task_id: int
    attempt: int  # the review attempt's number
    reviewer: str
    model: str | None
    decision: str  # approve | request_changes | reject | error (an unreadable answer or a failed reviewer)
    notes: str
    comments: tuple[ReviewComment, ...] = ()
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = iso_time(self.created_at)
        return data


@dataclass(frozen=True)
class FollowUp:
    """Text for the agent from a person: the next turn of its session (`/task reply`, a reply in the chat)."""

    id: int
    task_id: int
    text: str
    interrupt: bool = False  # --now: stop the agent's current turn instead of waiting for it to end
    source: str | None = None  # who sent it ("telegram:CHAT:USER", "cli")
    created_at: float = 0.0
    taken_at: float | None = None  # when an attempt took it as its prompt


@dataclass(frozen=True)
class Question:
    """Something the agent asks a person: a question (its options offered as buttons), a tool approval, or a
    prompt it waits at in its terminal. The answer is stored with who gave it."""

    id: int
    task_id: int
    kind: str  # question | approval | prompt
    text: str
    options: tuple[str, ...] = ()
    detail: str | None = None  # an approval's tool input, as JSON
    created_at: float = 0.0
    answer: str | None = None
    answered_by: str | None = None
    answered_at: float | None = None

    @property
    def open(self) -> bool:
        return self.answered_at is None


@dataclass(frozen=True)
class Origin:
    """Where a task was asked for: the chat to notify when it needs a person."""

    task_id: int
    transport: str
    chat_id: str
    user_id: str | None
    message_id: str | None


@dataclass(frozen=True)
class Chunk:
    """Some finished lines of a task's output; `seq` counts per task from 1."""

    task_id: int
    seq: int
    content: str
    timestamp: float
    is_final: bool = False

    @property
    def lines(self) -> list[str]:
        return self.content.split("\n") if self.content else []


@dataclass(frozen=True)
class Delegation:
    """A sub-task an agent asked for."""

    title: str
    body: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    agent: str
    model: str | None
    complexity: str
    reason: str
    decided_by: str  # label | llm | round_robin | fallback
    profile: dict[str, Any] = field(default_factory=dict)
    selected_skills: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "model": self.model,
            "complexity": self.complexity,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "profile": self.profile,
            "selected_skills": list(self.selected_skills),
            "warnings": list(self.warnings),
        }

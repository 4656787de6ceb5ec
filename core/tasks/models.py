"""Values shared by every part of orch."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TaskStatus(enum.StrEnum):
    NEW = "new"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NEEDS_REVIEW = "needs_review"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "status": self.status.value,
            "labels": list(self.labels),
            "project": self.project,
            "parent_id": self.parent_id,
            "agent": self.agent,
            "model": self.model,
            "complexity": self.complexity,
            "route_reason": self.route_reason,
            "branch": self.branch,
            "worktree": self.worktree,
            "attempts": self.attempts,
            "summary": self.summary,
            "review_reason": self.review_reason,
            "cost_usd": self.cost_usd,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


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

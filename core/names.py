"""The names a user writes: agents, complexity tiers, task statuses, what costs add up by (a light module: the
CLI builds its grammar from it before loading anything else)."""

from __future__ import annotations

import enum
from typing import Literal

AGENT_NAMES = ("claude", "codex", "opencode", "shell")
LLM_AGENTS = ("claude", "codex", "opencode")
COMPLEXITIES = ("simple", "medium", "complex")
SCRATCH = "scratch"  # the project of tasks that name none while no project is registered

Grouping = Literal["agent", "model", "project", "day"]
GROUPINGS: tuple[Grouping, ...] = ("agent", "model", "project", "day")


class TaskStatus(enum.StrEnum):
    NEW = "new"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NEEDS_REVIEW = "needs_review"
    BLOCKED = "blocked"
    WAITING = "waiting"  # the agent asked the user something; the answer resumes it
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)

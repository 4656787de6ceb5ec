"""The records the store keeps beside tasks: chats following them, projects, scheduled jobs' state, costs.

Their own module, apart from the Store ABC: reading them (orch.core.store.rows) does not need the whole seam.
"""

from __future__ import annotations

from dataclasses import dataclass

from orch.core.tasks.models import Attempt


@dataclass(frozen=True)
class Follow:
    transport: str
    chat_id: str
    task_id: int
    last_seq: int


@dataclass(frozen=True)
class JobState:
    """Where a scheduled job stands; times are Unix seconds."""

    job_id: int
    schedule: str
    handled_until: float
    last_slot: float | None = None
    last_task_id: int | None = None


@dataclass(frozen=True)
class AttemptCost:
    """An attempt with its task's project: one row of `orch cost`."""

    attempt: Attempt
    project: str | None


@dataclass(frozen=True)
class Project:
    name: str
    path: str
    default_branch: str | None
    managed: bool
    # Where the project's code comes from (a clone's origin, a checkout's `origin` remote; None: it has none): a
    # worker's copy of the project delivers there, as serve's would.
    url: str | None = None

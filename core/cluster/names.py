"""The names the hosts of a cluster agree on: the job, its queues and locks, and the NOTIFY channels."""

from __future__ import annotations

# The one procrastinate task: run an orch task (routed already) to an end.
RUN_TASK = "orch.run_task"
# Output a worker stored (payload "TASK_ID:FIRST_SEQ"); sent in the transaction that stores it.
CHUNKS_CHANNEL = "orch_chunks"
# A task's status changed or its agent asked something on a worker (payload JSON, see orch.core.cluster.relay).
EVENTS_CHANNEL = "orch_events"
# A control message waits for a host (payload: the host's name).
CONTROL_CHANNEL = "orch_control"


def queue_for(agent: str) -> str:
    """Each agent has its queue: a worker takes jobs only for the agents installed on its host."""
    return f"orch-agent-{agent}"


def lock_for(task_id: int) -> str:
    """One job of a task runs at a time, and one waits at most (procrastinate's lock and queueing lock)."""
    return f"orch-task-{task_id}"


def task_of_lock(lock: str | None) -> int | None:
    if lock is None or not lock.startswith("orch-task-"):
        return None
    digits = lock.removeprefix("orch-task-")
    return int(digits) if digits.isdigit() else None

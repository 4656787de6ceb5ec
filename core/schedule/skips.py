"""Slots a job skipped because its previous task had not finished: kept so `orch job list` can say so.

They live in the store's small named values (one per job, cleared when the job fires again), so the CLI in
another process sees what `orch serve` skipped without a schema change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orch.core.store.base import Store


@dataclass(frozen=True)
class Skipped:
    """The runs a job skipped since it last fired: how many, the latest slot, and the task that held it up."""

    count: int
    last_slot: float
    task_id: int
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "last_slot": self.last_slot, "task_id": self.task_id, "status": self.status}


def _key(job_id: int) -> str:
    return f"jobs.{job_id}.skipped"


async def load_skipped(store: Store, job_id: int) -> Skipped | None:
    text = await store.kv_get(_key(job_id))
    if not text:
        return None
    try:
        data = json.loads(text)
        return Skipped(int(data["count"]), float(data["last_slot"]), int(data["task_id"]), str(data["status"]))
    except (ValueError, KeyError, TypeError):
        return None  # written by another version of orch: what was skipped before is not worth failing over


async def record_skip(store: Store, job_id: int, slot: float, task_id: int, status: str) -> Skipped:
    previous = await load_skipped(store, job_id)
    skipped = Skipped((previous.count if previous else 0) + 1, slot, task_id, status)
    await store.kv_set(_key(job_id), json.dumps(skipped.to_json()))
    return skipped


async def clear_skipped(store: Store, job_id: int) -> None:
    await store.kv_set(_key(job_id), "")

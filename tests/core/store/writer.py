"""A second process writing to a store, for the contract suite: `python -m tests.core.store.writer BACKEND LOCATION`.

It writes rounds of what orch writes while a task runs until the test sets the kv key STOP_KEY, then exits 0. Any
error (such as "database is locked") ends it with a traceback on stderr and a non-zero status.
"""

from __future__ import annotations

import asyncio
import sys
import time

from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, Chunk, NewTask, TaskStatus

from tests.core.store.backends import BACKENDS

STOP_KEY = "writer.stop"
# A writer whose test died must not write for ever.
MAX_SECONDS = 60.0


async def write_round(store: Store, who: str, number: int) -> None:
    """One task's worth of writes; its title is `WHO NUMBER`, its project WHO, its capture offset NUMBER."""
    task = await store.create_task(NewTask(f"{who} {number}", project=who))
    routed = await store.transition(task.id, TaskStatus.ROUTED, only_from=(TaskStatus.NEW,), agent="shell")
    assert routed is not None
    await store.add_attempt(Attempt(task.id, 1, "shell", None, time.time()))
    await store.append_chunks([Chunk(task.id, 1, f"{who} line {number}", time.time()),
                               Chunk(task.id, 2, "", time.time(), is_final=True)], attempt=1, byte_offset=number)
    await store.kv_set(f"{who}.round", str(number))
    await store.add_follow(who, "chat", task.id)
    await store.set_follow_seq(who, "chat", task.id, 2)


async def main(backend: str, location: str) -> None:
    store = await BACKENDS[backend].open(location)
    deadline = time.monotonic() + MAX_SECONDS
    try:
        number = 0
        while await store.kv_get(STOP_KEY) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"writer: not stopped after {MAX_SECONDS:g} s")
            number += 1
            await write_round(store, "child", number)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

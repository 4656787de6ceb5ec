"""What happens on workers, heard in `orch serve`: the Broadcaster (on a worker) sends its hub's status changes
and questions as NOTIFYs; the Relay (in serve) LISTENs for those and for stored output, and publishes them on
serve's hub, where follows and chats take them as they take local ones.

Notifications only wake: the Relay reads the chunks from the store after the last seq it relayed, and followers
read the store by seq too, so a notification lost (serve restarting, a connection dropped) loses no line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from orch.core.cluster.db import ClusterDb
from orch.core.cluster.names import CHUNKS_CHANNEL, EVENTS_CHANNEL
from orch.core.events import Event, EventHub, OutputChunk, QuestionAsked, TaskChanged
from orch.core.store.base import Store
from orch.core.store.postgres_connect import connect
from orch.core.tasks.models import TaskStatus

log = logging.getLogger("orch.cluster")

RECONNECT_SECONDS = 1.0


class Relay:
    def __init__(self, url: str, store: Store, hub: EventHub) -> None:
        self._url = url
        self._store = store
        self._hub = hub
        self._relayed: dict[int, int] = {}  # task -> the last seq published
        self.listening = asyncio.Event()  # set once LISTEN is in place (tests wait for it)

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the relay of workers' output lost its connection; reconnecting")
            self.listening.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        conn = await connect(self._url)
        try:
            await conn.execute(f"LISTEN {CHUNKS_CHANNEL}")
            await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            self.listening.set()
            async for notice in conn.notifies():
                if notice.channel == CHUNKS_CHANNEL:
                    task_id, _, first = notice.payload.partition(":")
                    await self._chunks(int(task_id), int(first))
                else:
                    await self._event(json.loads(notice.payload))
        finally:
            await conn.close()

    async def _chunks(self, task_id: int, first_seq: int) -> None:
        after = self._relayed.get(task_id, first_seq - 1)
        for chunk in await self._store.chunks_after(task_id, after):
            self._hub.publish(OutputChunk(chunk))
            self._relayed[task_id] = chunk.seq

    async def _event(self, payload: dict[str, object]) -> None:
        task_id = payload.get("task")
        if isinstance(task_id, int):
            task = await self._store.get_task(task_id)
            previous = payload.get("previous")
            if task is not None:
                self._hub.publish(TaskChanged(task, TaskStatus(previous) if isinstance(previous, str) else None))
        question_id = payload.get("question")
        if isinstance(question_id, int):
            question = await self._store.get_question(question_id)
            if question is not None:
                self._hub.publish(QuestionAsked(question))


class Broadcaster:
    """On a worker: its hub's status changes and questions, sent to serve."""

    def __init__(self, db: ClusterDb, hub: EventHub) -> None:
        self._db = db
        self._hub = hub

    async def run(self) -> None:
        def relevant(event: Event) -> bool:
            return isinstance(event, TaskChanged | QuestionAsked)

        async with self._hub.subscribed(relevant) as subscription:
            async for event in subscription:
                if isinstance(event, TaskChanged):
                    previous = event.previous.value if event.previous is not None else None
                    payload: dict[str, object] = {"task": event.task.id, "previous": previous}
                elif isinstance(event, QuestionAsked):
                    payload = {"question": event.question.id}
                else:
                    continue
                with contextlib.suppress(Exception):  # serve reads the store anyway; a lost NOTIFY only delays
                    await self._db.notify(EVENTS_CHANNEL, json.dumps(payload))

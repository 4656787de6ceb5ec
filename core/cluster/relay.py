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
from orch.core.stopping import cancel_and_wait
from orch.core.store.base import Store
from orch.core.store.postgres_connect import connect
from orch.core.tasks.models import TaskStatus

log = logging.getLogger("orch.cluster")

RECONNECT_SECONDS = 1.0
_EVENTS = -1  # in the notes of what to publish: status changes and questions are waiting


class Relay:
    def __init__(self, url: str, store: Store, hub: EventHub) -> None:
        self._url = url
        self._store = store
        self._hub = hub
        self._relayed: dict[int, int] = {}  # task -> the last seq published
        self._events: list[dict[str, object]] = []  # status changes and questions to publish, oldest first
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
        db = await ClusterDb.open(self._url)
        dirty: dict[int, int] = {}  # task -> the first seq notified since its last read
        woken = asyncio.Event()
        publishing = asyncio.create_task(self._publish(db, dirty, woken), name="relay-publish")
        try:
            await conn.execute(f"LISTEN {CHUNKS_CHANNEL}")
            await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            self.listening.set()
            async for notice in conn.notifies():
                if notice.channel == CHUNKS_CHANNEL:
                    # Only noted here: under load, many notifications of a task become one read of the store.
                    task_id, _, first = notice.payload.partition(":")
                    dirty.setdefault(int(task_id), int(first))
                else:
                    dirty.setdefault(_EVENTS, 0)
                    self._events.append(json.loads(notice.payload))
                woken.set()
        finally:
            await cancel_and_wait(publishing)
            await conn.close()
            await db.close()

    async def _publish(self, db: ClusterDb, dirty: dict[int, int], woken: asyncio.Event) -> None:
        """Publish what the notifications noted, in the order it happened: a task's status change after the
        output its worker stored before it."""
        while True:
            await woken.wait()
            woken.clear()
            noted = dict(dirty)
            dirty.clear()
            after = {task_id: self._relayed.get(task_id, first - 1) for task_id, first in noted.items()
                     if task_id != _EVENTS}
            if after:
                for chunk in await db.chunks_since(after):
                    self._hub.publish(OutputChunk(chunk))
                    self._relayed[chunk.task_id] = chunk.seq
            if _EVENTS in noted:
                events, self._events = self._events, []
                for payload in events:
                    await self._event(payload)

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

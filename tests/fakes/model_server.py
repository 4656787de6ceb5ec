"""What the fake model APIs share: a loopback aiohttp server answering one POST path from a script queue."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiohttp import web

RequestT = TypeVar("RequestT")
ScriptedT = TypeVar("ScriptedT")


class ScriptedServer(Generic[RequestT, ScriptedT]):
    """Records every request, hands out scripted reactions in order; a hung request waits until stop()."""

    def __init__(self) -> None:
        self.requests: list[RequestT] = []
        self._queue: deque[ScriptedT] = deque()
        self._ids = itertools.count(1)
        self._released = asyncio.Event()
        self._received = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        app = web.Application()
        app.router.add_post(path, handler)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for_requests(self, count: int, within: float = 30.0) -> None:
        """Return once `count` requests have arrived in total."""
        async with self._received:
            await asyncio.wait_for(self._received.wait_for(lambda: len(self.requests) >= count), within)

    async def _record(self, request: RequestT) -> None:
        async with self._received:
            self.requests.append(request)
            self._received.notify_all()

    async def _hang(self) -> web.StreamResponse:
        await self._released.wait()
        raise web.HTTPServiceUnavailable()

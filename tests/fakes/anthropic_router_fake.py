"""A local fake of the Anthropic Messages API for the router: non-streaming JSON answers only.

The real `anthropic` SDK talks to it through `base_url` (or ANTHROPIC_BASE_URL). Queue one reaction per request
you expect; a request that finds the queue empty gets a 500, so an unexpected call fails the test loudly.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Error:
    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Hang:
    pass


class FakeRouterAnthropic:
    """`POST /v1/messages` on 127.0.0.1, answering from a queue; `requests` holds every JSON body received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self._queue: deque[_Text | _Error | _Hang] = deque()
        # A hung request waits on this; close() sets it so the server can shut down without waiting for it.
        self._release = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def queue_text(self, text: str) -> None:
        self._queue.append(_Text(text))

    def queue_error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._queue.append(_Error(status, error_type, message, dict(headers or {})))

    def queue_hang(self) -> None:
        self._queue.append(_Hang())

    async def _messages(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        self.headers.append({key.lower(): value for key, value in request.headers.items()})
        reaction = self._queue.popleft() if self._queue else _Error(500, "api_error", "the fake has nothing queued")
        if isinstance(reaction, _Hang):
            await self._release.wait()
            return web.json_response(_error_body("api_error", "released at shutdown"), status=500)
        if isinstance(reaction, _Error):
            return web.json_response(_error_body(reaction.error_type, reaction.message), status=reaction.status,
                                     headers=reaction.headers)
        return web.json_response({
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [{"type": "text", "text": reaction.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 50},
        })

    def api_key(self, index: int = -1) -> str | None:
        """The key request `index` carried: SDK versions differ on `x-api-key` versus `Authorization: Bearer`."""
        headers = self.headers[index]
        if "x-api-key" in headers:
            return headers["x-api-key"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    def prompt(self, index: int = -1) -> str:
        """The text of the user message of request `index`."""
        content = self.requests[index]["messages"][0]["content"]
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content)


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}

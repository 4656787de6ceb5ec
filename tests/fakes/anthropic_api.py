"""A fake Anthropic Messages API on 127.0.0.1 for the `anthropic` SDK, the `claude` CLI and opencode.

Script the answers, point the client at `fake.base_url`, then assert on `fake.requests`:

    fake = FakeAnthropicAPI()
    await fake.start()
    fake.queue_tool_use("Write", {"file_path": "a.txt", "content": "hi"}, text="Writing it.")
    fake.queue_text("Done.")
    ...
    assert fake.requests[0].json["model"] == "claude-sonnet-4-5"
    assert fake.requests[0].api_key == "sk-ant-test"
    await fake.stop()

Each `POST /v1/messages` (with or without `?beta=true`) takes the next scripted reply, answered as JSON or,
when the request says `"stream": true`, as server-sent events. With nothing queued it answers 400, which no
client retries, so a test that scripted too little fails fast and visibly (the router counts it as a failed
attempt, which the request count then shows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.model_server import ScriptedServer


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def tool_names(self) -> list[str]:
        return [str(tool.get("name")) for tool in self.json.get("tools", ())]

    @property
    def system_text(self) -> str:
        """The system prompt as one string, whether sent as a string or as text blocks."""
        system = self.json.get("system", "")
        if isinstance(system, str):
            return system
        return "\n".join(str(block.get("text", "")) for block in system)

    @property
    def api_key(self) -> str | None:
        """The key the client sent: SDK versions differ on `x-api-key` versus `Authorization: Bearer`."""
        headers = {key.lower(): value for key, value in self.headers.items()}
        if "x-api-key" in headers:
            return headers["x-api-key"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    @property
    def prompt(self) -> str:
        """The text of the first message, whether sent as a string or as text blocks."""
        content = self.json["messages"][0]["content"]
        if isinstance(content, str):
            return content
        return "".join(str(block.get("text", "")) for block in content)

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last user message (what the client did with the previous tool_use)."""
        messages = self.json.get("messages", [])
        if not messages or not isinstance(messages[-1].get("content"), list):
            return []
        return [block for block in messages[-1]["content"] if block.get("type") == "tool_result"]


@dataclass(frozen=True)
class _Reply:
    content: list[dict[str, Any]]
    stop_reason: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class _Error:
    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _StreamError:
    """An error event in the middle of an SSE stream (how the real API reports overload mid-answer)."""

    type: str
    message: str


class _Hang:
    """Accept the request and never answer, until the fake stops."""


_Scripted = _Reply | _Error | _StreamError | _Hang


class FakeAnthropicAPI(ScriptedServer[ReceivedRequest, _Scripted]):
    def __init__(self, *, toolless_reply: str | None = None) -> None:
        """`toolless_reply`: answer every request that offers no tools with this text without taking from the
        queue. CLIs send such side requests (opencode's session title) whose order is not worth scripting.
        `base_url` is the value for ANTHROPIC_BASE_URL (the SDK and the claude CLI add /v1/messages)."""
        super().__init__()
        self.toolless_reply = toolless_reply

    async def start(self) -> None:
        await self.serve("/v1/messages", self._messages)

    # -- scripting -------------------------------------------------------------------------------------------

    def queue_text(self, text: str, *, input_tokens: int = 100, output_tokens: int = 20) -> None:
        """A final answer: one text block, stop_reason end_turn."""
        self._queue.append(_Reply([{"type": "text", "text": text}], "end_turn", input_tokens, output_tokens))

    def queue_tool_use(self, name: str, tool_input: dict[str, Any], *, text: str | None = None,
                       input_tokens: int = 100, output_tokens: int = 20) -> None:
        """An answer that calls one tool (optionally after some text); the client runs it and asks again."""
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content.append({"type": "tool_use", "id": f"toolu_fake{next(self._ids):04d}", "name": name,
                        "input": tool_input})
        self._queue.append(_Reply(content, "tool_use", input_tokens, output_tokens))

    def queue_error(self, status: int, error_type: str, message: str, *,
                    headers: dict[str, str] | None = None, times: int = 1) -> None:
        """An HTTP error with the API's error body, e.g. (429, "rate_limit_error", ...) with a retry-after
        header, (529, "overloaded_error", ...), (401, "authentication_error", ...), (404, "not_found_error", ...).
        `times` queues it that often, for clients that retry."""
        self._queue.extend([_Error(status, error_type, message, dict(headers or {}))] * times)

    def queue_stream_error(self, error_type: str, message: str) -> None:
        """A 200 SSE stream that carries an `error` event instead of a message."""
        self._queue.append(_StreamError(error_type, message))

    def queue_hang(self) -> None:
        self._queue.append(_Hang())

    @property
    def pending(self) -> int:
        """Scripted replies not yet taken."""
        return len(self._queue)

    # -- serving ---------------------------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        received = ReceivedRequest(path=request.path, query=dict(request.query),
                                   headers=dict(request.headers), json=body)
        await self._record(received)
        scripted: _Scripted
        if self.toolless_reply is not None and not body.get("tools"):
            scripted = _Reply([{"type": "text", "text": self.toolless_reply}], "end_turn", 10, 5)
        elif self._queue:
            scripted = self._queue.popleft()
        else:
            scripted = _Error(400, "invalid_request_error", "fake anthropic: no response queued for this request")
        model = str(body.get("model", "claude-fake"))
        if isinstance(scripted, _Hang):
            return await self._hang()
        if isinstance(scripted, _Error):
            return web.json_response(
                {"type": "error", "error": {"type": scripted.type, "message": scripted.message}},
                status=scripted.status, headers={"request-id": f"req_fake{next(self._ids)}", **scripted.headers})
        if not body.get("stream"):
            if isinstance(scripted, _StreamError):
                return web.json_response({"type": "error", "error": {"type": scripted.type,
                                                                     "message": scripted.message}}, status=500)
            return web.json_response(self._message(scripted, model))
        return await self._stream(request, scripted, model)

    def _message(self, reply: _Reply, model: str) -> dict[str, Any]:
        return {
            "id": f"msg_fake{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": reply.content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }

    async def _stream(self, request: web.Request, scripted: _Reply | _StreamError,
                      model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache",
                                               "request-id": f"req_fake{next(self._ids)}"})
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        if isinstance(scripted, _StreamError):
            await send("error", {"type": "error", "error": {"type": scripted.type, "message": scripted.message}})
            await response.write_eof()
            return response
        message = self._message(scripted, model)
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {**message["usage"], "output_tokens": 1}}
        await send("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(scripted.content):
            if block["type"] == "text":
                await send("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}})
                await send("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "text_delta", "text": block["text"]}})
            else:
                await send("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {**block, "input": {}}})
                await send("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(block["input"])}})
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": scripted.stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": scripted.output_tokens}})
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response

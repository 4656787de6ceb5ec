"""A fake OpenAI Responses API (`POST /v1/responses`, SSE) on 127.0.0.1, enough for the `codex` CLI.

codex ignores OPENAI_BASE_URL; point it at the fake with a custom provider (see `codex_provider_args`).

    fake = FakeResponsesAPI()
    await fake.start()
    fake.queue_shell("echo hi > a.txt")
    fake.queue_text("Done.")
    ...
    assert fake.requests[1].function_call_outputs()[0]["output"]

With nothing queued it answers 400 (codex does not retry that), so under-scripted tests fail fast.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.model_server import ScriptedServer


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def instructions(self) -> str:
        return str(self.json.get("instructions") or "")

    def input_texts(self, role: str) -> list[str]:
        """The text of every input message with this role (`user`, `developer`, ...)."""
        texts: list[str] = []
        for item in self.json.get("input", []):
            if item.get("type") == "message" and item.get("role") == role:
                content = item.get("content")
                if isinstance(content, str):
                    texts.append(content)
                else:
                    texts.extend(str(part.get("text", "")) for part in content or ())
        return texts

    def function_call_outputs(self) -> list[dict[str, Any]]:
        return [item for item in self.json.get("input", [])
                if item.get("type") in ("function_call_output", "custom_tool_call_output")]


@dataclass(frozen=True)
class _Reply:
    items: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class _Error:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Failed:
    """A 200 stream that ends in `response.failed` (how the API reports e.g. context_length_exceeded)."""

    code: str
    message: str


class _Hang:
    """Accept the request and never answer, until the fake stops."""


_Scripted = _Reply | _Error | _Failed | _Hang


def codex_provider_args(base_url: str) -> list[str]:
    """`-c` settings that make codex use the fake (with few retries, so error tests stay fast)."""
    return [
        "-c", "model_provider=fake",
        "-c", "model_providers.fake.name=fake",
        "-c", f"model_providers.fake.base_url={base_url}/v1",
        "-c", "model_providers.fake.wire_api=responses",
        "-c", "model_providers.fake.env_key=FAKE_API_KEY",
        "-c", "model_providers.fake.stream_max_retries=0",
        "-c", "model_providers.fake.request_max_retries=0",
    ]


class FakeResponsesAPI(ScriptedServer[ReceivedRequest, _Scripted]):
    async def start(self) -> None:
        await self.serve("/v1/responses", self._responses)

    # -- scripting -------------------------------------------------------------------------------------------

    def queue_text(self, text: str, *, input_tokens: int = 100, output_tokens: int = 20) -> None:
        """A final assistant message."""
        item = {"type": "message", "id": f"msg_fake{next(self._ids)}", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}
        self._queue.append(_Reply([item], input_tokens, output_tokens))

    def queue_shell(self, cmd: str, *, input_tokens: int = 100, output_tokens: int = 20) -> None:
        """A call of codex's `exec_command` tool; codex runs `cmd` and sends its output in the next request."""
        item = {"type": "function_call", "id": f"fc_fake{next(self._ids)}", "call_id": f"call_fake{next(self._ids)}",
                "name": "exec_command", "arguments": json.dumps({"cmd": cmd}), "status": "completed"}
        self._queue.append(_Reply([item], input_tokens, output_tokens))

    def queue_apply_patch(self, patch: str, *, input_tokens: int = 100, output_tokens: int = 20) -> None:
        """A call of codex's freeform `apply_patch` tool (`*** Begin Patch` ... `*** End Patch`)."""
        item = {"type": "custom_tool_call", "id": f"ctc_fake{next(self._ids)}",
                "call_id": f"call_fake{next(self._ids)}", "name": "apply_patch", "input": patch,
                "status": "completed"}
        self._queue.append(_Reply([item], input_tokens, output_tokens))

    def queue_error(self, status: int, code: str, message: str, *, error_type: str | None = None,
                    headers: dict[str, str] | None = None, times: int = 1) -> None:
        """An HTTP error with the API's error body, e.g. (429, "rate_limit_exceeded", ...),
        (401, "invalid_api_key", ...), (404, "model_not_found", ...)."""
        body = {"error": {"message": message, "type": error_type or code, "code": code, "param": None}}
        self._queue.extend([_Error(status, body, dict(headers or {}))] * times)

    def queue_failed(self, code: str, message: str) -> None:
        self._queue.append(_Failed(code, message))

    def queue_hang(self) -> None:
        self._queue.append(_Hang())

    # -- serving ---------------------------------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await self._record(ReceivedRequest(request.path, dict(request.headers), body))
        scripted: _Scripted = self._queue.popleft() if self._queue else _Error(
            400, {"error": {"message": "fake responses: no response queued for this request",
                            "type": "invalid_request_error", "code": None, "param": None}})
        if isinstance(scripted, _Hang):
            return await self._hang()
        if isinstance(scripted, _Error):
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sequence = itertools.count()

        async def send(data: dict[str, Any]) -> None:
            data = {**data, "sequence_number": next(sequence)}
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        response_id = f"resp_fake{next(self._ids)}"
        model = str(body.get("model", "gpt-fake"))
        base = {"id": response_id, "object": "response", "model": model, "status": "in_progress", "output": []}
        await send({"type": "response.created", "response": base})
        if isinstance(scripted, _Failed):
            error = {"code": scripted.code, "message": scripted.message}
            await send({"type": "response.failed", "response": {**base, "status": "failed", "error": error}})
            await response.write_eof()
            return response
        for index, item in enumerate(scripted.items):
            await send({"type": "response.output_item.added", "output_index": index,
                        "item": {**item, "status": "in_progress"}})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                await send({"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                            "content_index": 0, "delta": text})
            await send({"type": "response.output_item.done", "output_index": index, "item": item})
        usage = {"input_tokens": scripted.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": scripted.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": scripted.input_tokens + scripted.output_tokens}
        await send({"type": "response.completed",
                    "response": {**base, "status": "completed", "output": scripted.items, "usage": usage}})
        await response.write_eof()
        return response

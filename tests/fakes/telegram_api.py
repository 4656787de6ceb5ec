"""A fake Telegram Bot API server for tests: the real python-telegram-bot talks to it over HTTP.

Runs on 127.0.0.1 (port 0) in the test's event loop. It speaks the methods orch uses (getMe, getUpdates,
sendMessage, editMessageText, sendDocument, deleteWebhook, setMyCommands, getMyCommands), records every call
(with the time it was answered), lets a test
inject incoming messages and faults (429 with retry_after, 5xx, slow answers), and keeps each chat's messages
as Telegram would show them (HTML parsed to plain text), so a test can read back everything a chat received.

Like Telegram it answers 400 to a message longer than 4096 UTF-16 units, or a caption longer than 1024
(measured on the text as sent, markup included: stricter than Telegram, which counts after parsing), to HTML
it cannot parse, to an empty text, and to an edit that changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.fakes.outage import Outage

MAX_TEXT = 4096
MAX_CAPTION = 1024
# The shape of a real token (bot id, colon, secret), so a leak in logs would look like one.
TELEGRAM_TOKEN = "7123456789:AAF3kq-secret-token-Zx9_yWvQ0pLmN4rT8sUv"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")
# PTB sends these as JSON strings inside the form; everything else stays the string it was.
_JSON_PARAMS = frozenset((
    "allowed_updates", "commands", "entities", "reply_markup", "scope", "link_preview_options", "reply_parameters",
))
_SUPPORTED_TAGS = frozenset((
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler",
    "blockquote", "tg-emoji",
))
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)")
_BARE_LT = re.compile(r"<(?!/?[a-zA-Z])")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Document:
    """A file the bot sent: its name and content as they arrived in the multipart upload."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]  # an uploaded file is a Document
    status: int  # what the fake answered
    at: float = field(default_factory=time.monotonic)  # when it was answered


@dataclass(frozen=True)
class RateLimit:
    """Answer 429 with parameters.retry_after (seconds; a float works with PTB, Telegram sends ints)."""

    retry_after: float


@dataclass(frozen=True)
class ServerError:
    status: int = 500


@dataclass(frozen=True)
class Slow:
    """Wait `seconds` before answering; the request then takes effect only if `effective`."""

    seconds: float
    effective: bool = False


@dataclass(frozen=True)
class Blocked:
    """Answer 403, as Telegram does once a user blocked the bot (or removed it from a group)."""


@dataclass(frozen=True)
class Pass:
    """Answer this call normally (to place faults after it)."""


Fault = RateLimit | ServerError | Slow | Blocked | Pass


@dataclass
class Message:
    message_id: int
    chat_id: int
    text: str  # what the chat shows: markup removed, entities decoded (a document's caption)
    raw: str  # what the bot sent
    parse_mode: str | None
    edits: int = 0
    document: Document | None = None


@dataclass
class _PlannedFault:
    methods: frozenset[str]
    fault: Fault


class _EntityParser(HTMLParser):
    """Telegram's HTML subset: supported tags only, balanced; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SUPPORTED_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.error = self.error or f'Unmatched end tag "{tag}"'
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parse_html(text: str) -> str:
    """The visible text of a Telegram-HTML message; ValueError with Telegram's reason when it is not valid."""
    if _BARE_AMP.search(text):
        raise ValueError("Bad Request: can't parse entities: bare & (escape it as &amp;)")
    if _BARE_LT.search(text):
        raise ValueError("Bad Request: can't parse entities: bare < (escape it as &lt;)")
    parser = _EntityParser()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.open:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
    if parser.error is not None:
        raise ValueError(f"Bad Request: can't parse entities: {parser.error}")
    return "".join(parser.parts)


class FakeTelegram:
    def __init__(self, token: str, *, username: str = "orch_test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.calls: list[Call] = []
        self.chats: dict[int, dict[int, Message]] = {}
        self.commands: list[dict[str, Any]] = []
        self.confirmed_offset = 0  # every update below this was acknowledged by a getUpdates offset
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._faults: list[_PlannedFault] = []
        self.outage = Outage()  # while active, every request meets a 500, a timeout or a reset (outage.py)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # what a test does
    async def push_message(self, chat_id: int, user_id: int, text: str, *, chat_type: str | None = None) -> int:
        """A person types `text`; returns the update id. Telegram marks a leading /command as an entity."""
        update_id = self._next_update_id
        self._next_update_id += 1
        kind = chat_type or ("private" if chat_id > 0 else "group")
        message: dict[str, Any] = {
            "message_id": 10_000 + update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": kind, **({"title": "a group"} if kind != "private" else {})},
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "text": text,
        }
        command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
        self._updates.append({"update_id": update_id, "message": message})
        await self._notify()
        return update_id

    def fail(self, *faults: Fault, methods: Iterable[str] = ("sendMessage", "editMessageText")) -> None:
        """The next calls to any of `methods` meet these faults, one call each, in order."""
        names = frozenset(methods)
        self._faults.extend(_PlannedFault(names, fault) for fault in faults)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def texts(self, chat_id: int) -> list[str]:
        """Each message of the chat as it reads now (after edits), oldest first."""
        return [message.text for _, message in sorted(self.chats.get(chat_id, {}).items())]

    def documents(self, chat_id: int) -> list[Message]:
        """The chat's messages that carry a file, oldest first."""
        return [message for _, message in sorted(self.chats.get(chat_id, {}).items()) if message.document]

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until `predicate` holds; re-checked after every call the fake answers."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)

    # the server
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Document(value.filename, value.file.read())
                continue
            text = value if isinstance(value, str) else str(value)
            params[key] = json.loads(text) if key in _JSON_PARAMS else text
        if request.match_info["token"] != self.token:
            return await self._answer(method, params, 401, {"ok": False, "error_code": 401,
                                                            "description": "Unauthorized"})
        down = await self.outage.meet(request, lambda status: web.json_response(
            {"ok": False, "error_code": status, "description": "Internal Server Error"}, status=status))
        if down is not None:
            self.calls.append(Call(method, params, down.status))
            await self._notify()
            return down
        fault = self._take_fault(method)
        if isinstance(fault, Slow):
            # Waits for the time to pass, or for close(), so a test's teardown is not held up.
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: self._closing), fault.seconds)
            if not fault.effective:
                return await self._answer(method, params, 504, {"ok": False, "error_code": 504,
                                                                "description": "Gateway Timeout"})
        elif isinstance(fault, RateLimit):
            return await self._answer(method, params, 429, {
                "ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            })
        elif isinstance(fault, Blocked):
            return await self._answer(method, params, 403, {"ok": False, "error_code": 403,
                                                            "description": "Forbidden: bot was blocked by the user"})
        elif isinstance(fault, ServerError):
            return await self._answer(method, params, fault.status, {"ok": False, "error_code": fault.status,
                                                                     "description": "Internal Server Error"})
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return await self._answer(method, params, 404, {"ok": False, "error_code": 404,
                                                            "description": "Not Found"})
        try:
            result = await handler(params)
        except ValueError as exc:
            return await self._answer(method, params, 400, {"ok": False, "error_code": 400, "description": str(exc)})
        return await self._answer(method, params, 200, {"ok": True, "result": result})

    def _take_fault(self, method: str) -> Fault | None:
        for index, planned in enumerate(self._faults):
            if method in planned.methods:
                del self._faults[index]
                return planned.fault
        return None

    async def _answer(self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]) -> web.Response:
        self.calls.append(Call(method, params, status))
        await self._notify()
        return web.json_response(body, status=status)

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "orch", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _message_json(self, message: Message) -> dict[str, Any]:
        kind = "private" if message.chat_id > 0 else "group"
        return {"message_id": message.message_id, "date": int(time.time()), "text": message.text,
                "chat": {"id": message.chat_id, "type": kind}, "from": self._bot_user()}

    @staticmethod
    def _visible(params: dict[str, Any]) -> tuple[str, str]:
        raw = str(params.get("text", ""))
        if utf16_len(raw) > MAX_TEXT:
            raise ValueError("Bad Request: message is too long")
        parse_mode = params.get("parse_mode")
        visible = parse_html(raw) if parse_mode == "HTML" else raw
        if not visible.strip():
            raise ValueError("Bad Request: message text is empty")
        return raw, visible

    # Bot API methods
    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self._bot_user()

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands = list(params.get("commands", []))
        return True

    async def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset", 0))
        timeout = float(params.get("timeout", 0))
        limit = int(params.get("limit", 100))
        if offset > 0:
            # Telegram forgets every update below the offset: that is the acknowledgement.
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
            if offset > self.confirmed_offset:
                self.confirmed_offset = offset
                await self._notify()

        def ready() -> bool:
            return self._closing or any(update["update_id"] >= offset for update in self._updates)

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        return [update for update in self._updates if update["update_id"] >= offset][:limit]

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        raw, visible = self._visible(params)
        chat = self.chats.setdefault(chat_id, {})
        message = Message(len(chat) + 1, chat_id, visible, raw, params.get("parse_mode"))
        chat[message.message_id] = message
        return self._message_json(message)

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        document = params.get("document")
        if not isinstance(document, Document):
            raise ValueError("Bad Request: there is no document in the request")
        raw = str(params.get("caption", ""))
        if utf16_len(raw) > MAX_CAPTION:
            raise ValueError("Bad Request: message caption is too long")
        caption = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
        chat = self.chats.setdefault(chat_id, {})
        message = Message(len(chat) + 1, chat_id, caption, raw, params.get("parse_mode"), document=document)
        chat[message.message_id] = message
        payload = self._message_json(message)
        del payload["text"]
        return {**payload, "caption": caption, "document": {
            "file_id": f"file-{chat_id}-{message.message_id}", "file_unique_id": f"u{message.message_id}",
            "file_name": document.filename, "file_size": len(document.content)}}

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self.chats.get(chat_id, {}).get(int(params["message_id"]))
        if message is None:
            raise ValueError("Bad Request: message to edit not found")
        raw, visible = self._visible(params)
        if raw == message.raw:
            raise ValueError(NOT_MODIFIED)
        message.raw, message.text, message.edits = raw, visible, message.edits + 1
        message.parse_mode = params.get("parse_mode")
        return self._message_json(message)


"""A fake Telegram Bot API server for tests: the real python-telegram-bot talks to it over HTTP.

Runs on 127.0.0.1 (port 0) in the test's event loop. It speaks the methods orch uses (getMe, getUpdates,
sendMessage, editMessageText, sendDocument, deleteWebhook, setMyCommands, getMyCommands, answerCallbackQuery,
createForumTopic), records every call (with the time it was answered), lets a test inject incoming messages
(replies to a message, messages in a forum topic), button presses (callback queries) and faults (429 with
retry_after, 5xx, slow answers), and keeps each chat's messages as Telegram would show them (HTML parsed to plain
text, with their inline keyboard, ForceReply, the message they reply to and their topic), so a test can read
back everything a chat received and press what it shows.

Like Telegram it answers 400 to a message longer than 4096 UTF-16 units, or a caption longer than 1024
(measured on the text as sent, markup included: stricter than Telegram, which counts after parsing), to HTML
it cannot parse, to an empty text, to an edit that changes neither text nor keyboard, to callback data over
64 bytes, to a reply to a message that does not exist (unless allow_sending_without_reply), to a topic that
does not exist, and to createForumTopic outside a forum.
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
MAX_CALLBACK_DATA = 64  # bytes
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
    thread_id: int | None = None  # the forum topic it is in
    reply_to: int | None = None  # the message it replies to
    keyboard: list[list[dict[str, Any]]] | None = None  # its inline keyboard's rows of buttons
    force_reply: bool = False

    def buttons(self) -> dict[str, str]:
        """Label -> callback data of each button under it."""
        return {button["text"]: button["callback_data"] for row in self.keyboard or [] for button in row}


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
        self.answers: dict[str, str | None] = {}  # callback query id -> the text it was answered with
        self.topics: dict[int, dict[int, str]] = {}  # forum chat id -> topic thread id -> name
        self._chats_seen: dict[int, dict[str, Any]] = {}  # chat id -> its JSON, as people's messages showed it
        self._people_messages: set[tuple[int, int]] = set()  # (chat, message id) of what people sent
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._faults: list[_PlannedFault] = []
        self.outage = Outage()  # while active, every request meets a 500, a timeout or a reset (outage.py)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # lifecycle
    async def start(self, port: int = 0) -> None:
        """Listen on `port` (0: any free one; a given one: a service that comes up where orch already looks)."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
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
    async def push_message(self, chat_id: int, user_id: int, text: str, *, chat_type: str | None = None,
                           reply_to: int | None = None, thread_id: int | None = None, forum: bool = False) -> int:
        """A person types `text` (as a reply to message `reply_to`, in forum topic `thread_id`, in a forum
        supergroup if `forum`); returns the update id. Telegram marks a leading /command as an entity."""
        update_id = self._next_update_id
        self._next_update_id += 1
        message: dict[str, Any] = {
            "message_id": self.message_id_of(update_id),
            "date": int(time.time()),
            "chat": self._register_chat(chat_id, chat_type, forum),
            "from": self._person(user_id),
            "text": text,
        }
        self._people_messages.add((chat_id, message["message_id"]))
        command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
        if thread_id is not None:
            if thread_id not in self.topics.get(chat_id, {}):
                raise ValueError(f"no topic {thread_id} in chat {chat_id}")
            # In a topic, a message that replies to nothing in particular replies to the topic's first message.
            message.update(message_thread_id=thread_id, is_topic_message=True)
            message["reply_to_message"] = self._topic_root_json(chat_id, thread_id)
        if reply_to is not None:
            replied = self.chats.get(chat_id, {}).get(reply_to)
            if replied is None:
                raise ValueError(f"no message {reply_to} of the bot in chat {chat_id}")
            message["reply_to_message"] = self._message_json(replied)
        self._updates.append({"update_id": update_id, "message": message})
        await self._notify()
        return update_id

    @staticmethod
    def message_id_of(update_id: int) -> int:
        """The id of the message a person sent with update `update_id`."""
        return 10_000 + update_id

    async def press(self, chat_id: int, user_id: int, message_id: int, label: str) -> str:
        """A person presses the button labelled `label` under message `message_id`; returns the callback query
        id (its answer lands in `answers`)."""
        message = self.chats[chat_id][message_id]
        return await self.push_press(chat_id, user_id, message_id, message.buttons()[label])

    async def push_press(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A callback query with `data` from a button under message `message_id`."""
        update_id = self._next_update_id
        self._next_update_id += 1
        query_id = f"query-{update_id}"
        message = self.chats[chat_id][message_id]
        self._updates.append({"update_id": update_id, "callback_query": {
            "id": query_id, "from": self._person(user_id), "chat_instance": f"instance-{chat_id}", "data": data,
            "message": self._message_json(message),
        }})
        await self._notify()
        return query_id
    def fail(self, *faults: Fault, methods: Iterable[str] = ("sendMessage", "editMessageText")) -> None:
        """The next calls to any of `methods` meet these faults, one call each, in order."""
        names = frozenset(methods)
        self._faults.extend(_PlannedFault(names, fault) for fault in faults)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def messages(self, chat_id: int, *, thread: int | None = None) -> list[Message]:
        """The bot's messages in the chat (outside topics, or in topic `thread`), oldest first."""
        return [message for _, message in sorted(self.chats.get(chat_id, {}).items()) if message.thread_id == thread]

    def texts(self, chat_id: int, *, thread: int | None = None) -> list[str]:
        """Each message of the chat (outside topics, or in topic `thread`) as it reads now (after edits)."""
        return [message.text for message in self.messages(chat_id, thread=thread)]

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

    @staticmethod
    def _person(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}

    def _register_chat(self, chat_id: int, chat_type: str | None, forum: bool) -> dict[str, Any]:
        kind = "supergroup" if forum else chat_type or ("private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = "a forum" if forum else "a group"
        if forum:
            chat["is_forum"] = True
        self._chats_seen[chat_id] = chat
        return chat

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        return self._chats_seen.get(chat_id) or {"id": chat_id, "type": "private" if chat_id > 0 else "group"}

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _topic_root_json(self, chat_id: int, thread_id: int) -> dict[str, Any]:
        return {"message_id": thread_id, "date": int(time.time()), "chat": self._chat_json(chat_id),
                "from": self._bot_user(), "message_thread_id": thread_id, "is_topic_message": True,
                "forum_topic_created": {"name": self.topics[chat_id][thread_id], "icon_color": 7322096}}

    def _message_json(self, message: Message) -> dict[str, Any]:
        payload: dict[str, Any] = {"message_id": message.message_id, "date": int(time.time()), "text": message.text,
                                   "chat": self._chat_json(message.chat_id), "from": self._bot_user()}
        if message.thread_id is not None:
            payload.update(message_thread_id=message.thread_id, is_topic_message=True)
        return payload

    def _placed(self, params: dict[str, Any]) -> tuple[int, int | None, int | None]:
        """Chat, topic and the message replied to of a message to send; ValueError as Telegram refuses them."""
        chat_id = int(params["chat_id"])
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        if thread is not None and thread not in self.topics.get(chat_id, {}):
            raise ValueError("Bad Request: message thread not found")
        reply = params.get("reply_parameters")
        reply_to = int(reply["message_id"]) if reply else None
        if reply_to is not None and reply_to not in self.chats.get(chat_id, {}) \
                and (chat_id, reply_to) not in self._people_messages:
            if not reply.get("allow_sending_without_reply"):
                raise ValueError("Bad Request: message to be replied not found")
            reply_to = None
        return chat_id, thread, reply_to

    @staticmethod
    def _markup(params: dict[str, Any]) -> tuple[list[list[dict[str, Any]]] | None, bool]:
        """The inline keyboard (its button data checked) and whether it is a ForceReply."""
        markup = params.get("reply_markup") or {}
        keyboard = markup.get("inline_keyboard")
        for row in keyboard or []:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > MAX_CALLBACK_DATA:
                    raise ValueError("Bad Request: BUTTON_DATA_INVALID")
        return keyboard, bool(markup.get("force_reply"))

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
        chat_id, thread, reply_to = self._placed(params)
        raw, visible = self._visible(params)
        keyboard, force_reply = self._markup(params)
        chat = self.chats.setdefault(chat_id, {})
        message = Message(self._new_message_id(chat_id), chat_id, visible, raw, params.get("parse_mode"),
                          thread_id=thread, reply_to=reply_to, keyboard=keyboard, force_reply=force_reply)
        chat[message.message_id] = message
        return self._message_json(message)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self.answers[str(params["callback_query_id"])] = params.get("text")
        return True

    async def _api_createForumTopic(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        if not self._chat_json(chat_id).get("is_forum"):
            raise ValueError("Bad Request: the chat is not a forum")
        thread_id = self._new_message_id(chat_id)  # the id of the topic's first (service) message
        self.topics.setdefault(chat_id, {})[thread_id] = str(params["name"])
        return {"message_thread_id": thread_id, "name": params["name"], "icon_color": 7322096}

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        chat_id, thread, _ = self._placed(params)
        document = params.get("document")
        if not isinstance(document, Document):
            raise ValueError("Bad Request: there is no document in the request")
        raw = str(params.get("caption", ""))
        if utf16_len(raw) > MAX_CAPTION:
            raise ValueError("Bad Request: message caption is too long")
        caption = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
        chat = self.chats.setdefault(chat_id, {})
        message = Message(self._new_message_id(chat_id), chat_id, caption, raw, params.get("parse_mode"),
                          document=document, thread_id=thread)
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
        keyboard, _ = self._markup(params)  # none given: the keyboard is removed
        if raw == message.raw and keyboard == message.keyboard:
            raise ValueError(NOT_MODIFIED)
        message.raw, message.text, message.edits = raw, visible, message.edits + 1
        message.parse_mode = params.get("parse_mode")
        message.keyboard = keyboard
        return self._message_json(message)


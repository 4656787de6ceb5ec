"""A ChatPort fake that behaves like a strict chat service: it enforces the message length (counted like
Telegram: UTF-16 units of the HTML-escaped text inside `<pre></pre>`), rejects edits that change nothing,
answers 429 on a schedule, and records every call (send, edit, file) with its time."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orch.bot.chat import Button, Capabilities, ChatRef, Mention, RateLimited, Unavailable, Undeliverable

PRE_TAGS = len("<pre></pre>")


class TooLong(Exception):
    pass


class NotModified(Exception):
    pass


class ServiceDown(Exception):
    pass


@dataclass(frozen=True)
class Call:
    kind: str  # send | edit | file
    chat_id: str
    message_id: str
    text: str  # a file's caption for a file
    preformatted: bool
    at: float  # time.monotonic(), the clock asyncio's loop.time() uses
    outcome: str  # ok | 429 | refused | down | too_long | not_modified | error


class FakeChatPort:
    name = "fake"

    def __init__(self, *, max_length: int = 100, can_edit: bool = True, min_interval: float = 0.0,
                 group_interval: float | None = None, rate_limit: Callable[[int], float | None] | None = None,
                 fail: Callable[[int], bool] | None = None, refuse: Callable[[str], bool] | None = None,
                 down: Callable[[int], bool] | None = None) -> None:
        """`min_interval` between calls in a chat, `group_interval` (when given) in a chat whose id starts with
        "-" (as Telegram's groups do); `rate_limit(n)` returns a retry_after to answer call n (from 0) with 429,
        or None; `fail(n)` says whether call n fails with a non-429 error; `refuse(chat_id)` whether a chat
        refuses everything for good (the bot was blocked there); `down(n)` whether the service is unreachable at
        call n (a timeout, a reset, a 5xx: bot.chat.Unavailable)."""
        self.capabilities = Capabilities(max_message_length=max_length, can_edit=can_edit)
        self._min_interval = min_interval
        self._group_interval = group_interval
        self._rate_limit = rate_limit
        self._fail = fail
        self._refuse = refuse
        self._down = down
        self.calls: list[Call] = []
        self.messages: dict[str, str] = {}  # in the order they were sent
        self.preformatted: dict[str, bool] = {}
        self.files: dict[str, tuple[str, bytes, str]] = {}  # message id -> filename, data, caption
        self.gate: asyncio.Event | None = None  # when set to an unset Event, every call waits for it

    def is_allowed(self, chat: ChatRef) -> bool:
        return True

    def allow_hint(self, chat: ChatRef) -> str:
        return f"chat id {chat.chat_id}, user id {chat.user_id}: add one to the fake's allow-list"

    def rendered_length(self, text: str, preformatted: bool) -> int:
        escaped = html.escape(text, quote=False)
        return len(escaped.encode("utf-16-le")) // 2 + (PRE_TAGS if preformatted else 0)

    def min_interval(self, chat_id: str) -> float:
        if self._group_interval is not None and chat_id.startswith("-"):
            return self._group_interval
        return self._min_interval

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        message_id = str(len(self.messages) + len(self.files) + 1)
        await self._call("send", chat_id, message_id, text, preformatted)
        self.messages[message_id] = text
        self.preformatted[message_id] = preformatted
        return message_id

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        await self._call("edit", chat_id, message_id, text, preformatted)
        self.messages[message_id] = text

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        message_id = str(len(self.messages) + len(self.files) + 1)
        await self._call("file", chat_id, message_id, caption, False)
        self.files[message_id] = (filename, data, caption)
        return message_id

    async def _call(self, kind: str, chat_id: str, message_id: str, text: str, preformatted: bool) -> None:
        if self.gate is not None:
            await self.gate.wait()
        number = len(self.calls)
        outcome = "ok"
        retry_after = self._rate_limit(number) if self._rate_limit else None
        if retry_after is not None:
            outcome = "429"
        elif self._refuse is not None and self._refuse(chat_id):
            outcome = "refused"
        elif self._down is not None and self._down(number):
            outcome = "down"
        elif self._fail is not None and self._fail(number):
            outcome = "error"
        elif self.rendered_length(text, preformatted) > self.capabilities.max_message_length:
            outcome = "too_long"
        elif kind == "edit" and self.messages[message_id] == text:
            outcome = "not_modified"
        self.calls.append(Call(kind, chat_id, message_id, text, preformatted, time.monotonic(), outcome))
        if retry_after is not None:
            raise RateLimited(retry_after)
        if outcome == "refused":
            raise Undeliverable("403 Forbidden: bot was blocked by the user")
        if outcome == "error":
            raise ServiceDown("503 service unavailable")
        if outcome == "down":
            raise Unavailable("connection reset by peer")
        if outcome == "too_long":
            raise TooLong("400 message is too long")
        if outcome == "not_modified":
            raise NotModified("400 message is not modified")

    # views for assertions
    def ok_calls(self, chat_id: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.outcome == "ok" and (chat_id is None or c.chat_id == chat_id)]

    def texts(self, chat_id: str | None = None, *, preformatted: bool = True) -> list[str]:
        """Final texts of the messages sent (to one chat), in the order they were sent."""
        ids = [c.message_id for c in self.ok_calls(chat_id) if c.kind == "send"]
        return [self.messages[i] for i in ids if self.preformatted[i] == preformatted]

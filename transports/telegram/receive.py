"""What the Telegram transport does with each update it fetched: commands, plain messages, button presses.

- A command runs as typed, by its sender; the ChatRef carries the command's message id, which a new task's
  origin records (a notice for its creator replies to it). In a forum supergroup, `/task new` opens a topic for
  its task, named like a Discord thread: the task's output, status lines, questions and replies go there.
- A plain message is a follow-up for a task when it replies to one of the task's messages or is written in the
  task's topic: BotApp.handle_message runs `/task reply` (or `/answer`, while the task waits for one) by its
  sender. A reply to a prompt for text (below) completes that prompt's command. Other plain text gets the hint
  to use commands in a private chat and is left alone in a group.
- A button press runs the button's command as if its presser had typed it, allow-list and all: the callback
  query is answered with the result's first line as a toast, and the replies go to the chat like a command's.
  A button that needs text (Reply, Answer) sends a ForceReply prompt instead, addressed to the presser; their
  reply to it runs `COMMAND TEXT`. Prompts are kept in the CursorStore, so a reply after a restart completes too.
- A stranger (off the allow-list) gets one refusal per chat an hour (bot.refusals), with the chat's and user's
  ids and the config keys to add them to; a stranger's press gets its first line as a toast only, and nothing
  runs or reaches the chat.
"""

from __future__ import annotations

import logging
from typing import Protocol

from orch.bot.chat import ChatRef, CommandSink, RateLimited, Reply, Undeliverable
from orch.bot.commands import COMMANDS
from orch.bot.outbox import Outbox
from orch.bot.parse import find_command
from orch.bot.refusals import RefusalPacer
from orch.bot.threads import THREADED
from orch.core.errors import UserError
from orch.transports.base import CursorStore
from orch.transports.buttons import ButtonCodes
from orch.transports.telegram.commands import addressed_elsewhere
from orch.transports.telegram.places import Place
from telegram import CallbackQuery, Message, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

log = logging.getLogger("orch.telegram")

TOAST_LIMIT = 200  # characters Telegram shows in a callback query's answer
EXPIRED = "this button has expired: type its command instead"
ASKED = "reply to orch's message with your text"
_PROMPT_KEY = "telegram.prompt.{chat}.{message}"


class Port(Protocol):
    """The transport as the receiver uses it: the allow-list, and the two things it sends outside the outbox."""

    name: str

    def is_allowed(self, chat: ChatRef) -> bool: ...

    async def open_topic(self, place: Place, name: str) -> Place | None:
        """A new topic in the forum `place` is in; None when none could be made."""
        ...

    async def ask_for_text(self, place: Place, command: str, user: User) -> str:
        """Send a ForceReply prompt asking `user` for the text `command` needs; its message id. Raises
        RateLimited and Undeliverable like ChatPort.send."""
        ...


class Receiver:
    def __init__(self, port: Port, sink: CommandSink, outbox: Outbox, codes: ButtonCodes,
                 cursor: CursorStore) -> None:
        self._port = port
        self._sink = sink
        self._outbox = outbox
        self._codes = codes
        self._cursor = cursor
        self._refusals = RefusalPacer()

    # handlers (bot.commands.register)
    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            await self._command(update.message, "/help")

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        text = message.text or message.caption or ""
        if text.startswith("/"):
            if not addressed_elsewhere(text, context.bot.username):
                await self._command(message, text)
            return
        await self._plain(message, text)

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        pressed = await self._codes.pressed(query.data or "")
        if pressed is None or query.message is None:
            await _answer(query, EXPIRED)
            return
        place = Place.of(query.message)
        chat = ChatRef(self._port.name, str(place), str(query.from_user.id))
        if pressed.needs_text and self._port.is_allowed(chat):
            await _answer(query, await self._ask_for_text(place, pressed.command, query.from_user))
            return
        replies = await self._sink.handle_text(chat, pressed.command)
        await _answer(query, _toast(replies))
        if self._port.is_allowed(chat):
            await self._deliver(chat, replies)

    # what an update means
    async def _command(self, message: Message, text: str) -> None:
        chat = self._chat(message)
        replies = await self._sink.handle_text(chat, text)
        if not self._may_answer(chat):
            return
        if message.chat.is_forum and _opens_topic(text):
            await self._open_topics(chat, replies)
        await self._deliver(chat, replies)

    async def _plain(self, message: Message, text: str) -> None:
        reply_to = _replied(message)
        if text.strip():
            if reply_to is not None:
                command = await self._cursor.get(_PROMPT_KEY.format(chat=message.chat_id, message=reply_to))
                if command is not None:
                    await self._command(message, f"{command} {text}")
                    return
            chat = self._chat(message)
            replies = await self._sink.handle_message(chat, text, reply_to=reply_to)
            if replies is not None:
                if self._may_answer(chat):
                    await self._deliver(chat, replies)
                return
        if message.chat.type == ChatType.PRIVATE:
            await self._command(message, text)  # answered with the hint that commands start with /

    async def _open_topics(self, chat: ChatRef, replies: list[Reply]) -> None:
        """A task made in a forum gets a topic: its output goes there from the first line, not where it was
        asked; the topic opens with the reply that made it."""
        for reply in replies:
            if reply.task_id is None:
                continue
            topic = await self._port.open_topic(Place.parse(chat.chat_id), reply.text.split("\n", 1)[0])
            if topic is None:
                continue
            await self._sink.unfollow(chat, reply.task_id)
            target = ChatRef(self._port.name, str(topic), chat.user_id)
            await self._outbox.reply(target.chat_id, reply)
            await self._sink.task_thread(target, reply.task_id)

    async def _ask_for_text(self, place: Place, command: str, user: User) -> str:
        """Prompt the presser for the text; what the toast says."""
        try:
            prompt_id = await self._port.ask_for_text(place, command, user)
        except RateLimited as exc:
            return f"Telegram asks orch to slow down: press again in {exc.retry_after:.0f} s"
        except Undeliverable as exc:
            log.warning("telegram: could not ask for text in %s: %s", place, exc)
            return f"could not ask for your text: type {command} TEXT instead"
        await self._cursor.set(_PROMPT_KEY.format(chat=place.chat, message=prompt_id), command)
        return ASKED

    def _chat(self, message: Message) -> ChatRef:
        user = message.from_user
        return ChatRef(self._port.name, str(Place.of(message)), str(user.id) if user is not None else None,
                       str(message.message_id))

    def _may_answer(self, chat: ChatRef) -> bool:
        """Whether replies go back: always where allowed; to a stranger's chat one refusal an hour."""
        return self._port.is_allowed(chat) or self._refusals.may_refuse(chat.chat_id)

    async def _deliver(self, chat: ChatRef, replies: list[Reply]) -> None:
        for reply in replies:
            await self._outbox.reply(chat.chat_id, reply)


def _opens_topic(text: str) -> bool:
    try:
        command, _ = find_command(COMMANDS, text.split("\n", 1)[0].split())
    except UserError:
        return False
    return command.path in THREADED


def _replied(message: Message) -> str | None:
    """The id of the message this one replies to. In a forum topic every message replies to the topic's first
    (service) message unless its sender chose another: that one does not count."""
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return str(replied.message_id)


def _toast(replies: list[Reply]) -> str:
    first = replies[0].text.split("\n", 1)[0] if replies else "done"
    return first if len(first) <= TOAST_LIMIT else first[: TOAST_LIMIT - 1] + "…"


async def _answer(query: CallbackQuery, text: str) -> None:
    """Answer the press (Telegram shows a spinner on the button until then); a late answer is refused, which
    changes nothing for the person."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.info("telegram: could not answer a button press: %s", exc)

"""One harness per Transport, so the contract suite (test_contract.py) runs the same tests against each.

Every harness runs the real transport with a real BotApp over real SQLite, shares one outbox between them as
`orch serve` does, and talks to the real service's stand-in: pipes for stdout, FakeTelegram for
python-telegram-bot, FakeDiscord for discord.py. It types commands as a person would, in an allowed chat or a
stranger's, and reads back what each chat shows, as `Shown` messages.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import discord
import pytest
import yarl
from orch.bot.app import BotApp
from orch.bot.message_outbox import MessageOutbox
from orch.bot.outbox import LineOutbox, Outbox
from orch.bot.split import utf16_length
from orch.core.config import DiscordTransportConfig, TelegramTransportConfig
from orch.core.services import Services
from orch.transports.base import Transport
from orch.transports.discord.transport import DiscordTransport
from orch.transports.stdout import CHAT_ID as TERMINAL
from orch.transports.stdout import StdoutTransport
from orch.transports.telegram.transport import TelegramTransport

from tests.fakes.discord_api import (
    DEFERRED_CHANNEL_MESSAGE,
    DISCORD_TOKEN,
    GUILD_ID,
    FakeDiscord,
    FakeMessage,
    decoded,
)
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram, Message

WAIT = 20.0
_MARKERS = itertools.count(10**12)


@dataclass(frozen=True)
class Cmd:
    """A command as typed on stdin or Telegram, and as the same slash command on Discord."""

    text: str
    path: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Shown:
    """One message as a chat shows it."""

    text: str  # what a person reads
    length: int  # what the service counts against its message limit
    preformatted: bool  # output (`<pre>`, a code block, `[N] line` on the terminal)


class ChatHarness(ABC):
    name: str
    limit: int | None  # of one message's length; None: no limit (the terminal)
    can_refuse: bool = True  # False where every command comes from the owner (the terminal)

    def __init__(self, transport: Transport, outbox: Outbox, chat_id: str) -> None:
        self.transport = transport
        self.outbox = outbox
        self.chat_id = chat_id  # the allowed chat commands are typed in

    @abstractmethod
    async def command(self, command: Cmd, *, allowed: bool = True) -> None:
        """Type `command` in the allowed chat, or as a stranger."""

    @abstractmethod
    def messages(self, *, allowed: bool = True) -> list[Shown]:
        """What the chat commands were typed in shows (the stranger's view when not `allowed`), oldest first."""

    @abstractmethod
    def followed(self, task_id: int) -> list[Shown]:
        """What the place a task's output goes to shows (a thread of its own on Discord), oldest first."""

    @abstractmethod
    def files(self) -> list[tuple[str, bytes, str]]:
        """The files the allowed chat received: name, content, caption."""

    @abstractmethod
    async def wait_for(self, condition: Callable[[], object]) -> None:
        """Wait until `condition()` is true, re-checking whenever the chat changes."""

    async def answers(self, command: Cmd) -> list[str]:
        """Type `command` as it is (odd bytes and all) and return what the chat showed in answer.

        A chat handles its commands in order, so a marker command typed after it (`/task show N`, N unique and
        unknown) ends the answer: everything shown after `command` and before the marker's own reply. The marker
        starts with an empty line, which ends a line the command left continued with a backslash on stdout."""
        before = len(self.messages())
        marker = f"task {next(_MARKERS)} not found"
        await self.command(command)
        await self.command(Cmd(f"\n/task show {marker.split()[1]}", ("task", "show")))
        await self.wait_for(lambda: any(marker in shown.text for shown in self.messages()[before:]))
        texts = [shown.text for shown in self.messages()[before:]]
        end = next(index for index, text in enumerate(texts) if marker in text)
        rest = texts[end].replace(marker, "").strip()  # the marker's reply may share a message with the answer
        return [*texts[:end], *([rest] if rest else [])]


class _Screen(io.StringIO):
    """The terminal: each write is one message (the transport writes a text and its newline at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.writes.append(text.removesuffix("\n"))
        self.changed.set()
        return super().write(text)


_OUTPUT_LINE = re.compile(r"\[(\d+)\] (.*)", re.S)
_FILE = re.compile(r"(.*)\n--- (.+) ---\n(.*)", re.S)


class StdoutHarness(ChatHarness):
    name = "stdout"
    limit = None
    can_refuse = False

    def __init__(self, transport: StdoutTransport, outbox: Outbox, screen: _Screen, keyboard: IO[bytes]) -> None:
        super().__init__(transport, outbox, TERMINAL)
        self._screen = screen
        self._keyboard = keyboard

    async def command(self, command: Cmd, *, allowed: bool = True) -> None:
        assert allowed, "the terminal has no strangers"
        # Lone surrogates become bytes that are not UTF-8, as a terminal or a pipe can deliver them.
        self._keyboard.write(command.text.encode("utf-8", "surrogatepass") + b"\n")

    def messages(self, *, allowed: bool = True) -> list[Shown]:
        return [Shown(text, len(text), False) for text in self._screen.writes]

    def followed(self, task_id: int) -> list[Shown]:
        shown = []
        for text in self._screen.writes:
            for line in text.split("\n"):
                output = _OUTPUT_LINE.fullmatch(line)
                if output is not None and int(output.group(1)) == task_id:
                    shown.append(Shown(output.group(2), len(line), True))
                elif output is None:
                    shown.append(Shown(line, len(line), False))
        return shown

    def files(self) -> list[tuple[str, bytes, str]]:
        found = [_FILE.fullmatch(text) for text in self._screen.writes]
        return [(match.group(2), match.group(3).encode() + b"\n", match.group(1)) for match in found if match]

    async def wait_for(self, condition: Callable[[], object]) -> None:
        async def until() -> None:
            while not condition():
                self._screen.changed.clear()
                await self._screen.changed.wait()

        await asyncio.wait_for(until(), WAIT)


TELEGRAM_CHAT = 1001
TELEGRAM_STRANGER = 6666


def _telegram_shown(message: Message) -> Shown:
    return Shown(message.text, utf16_length(message.raw), message.raw.startswith("<pre>"))


class TelegramHarness(ChatHarness):
    name = "telegram"
    limit = 4096

    def __init__(self, transport: TelegramTransport, outbox: Outbox, fake: FakeTelegram) -> None:
        super().__init__(transport, outbox, str(TELEGRAM_CHAT))
        self._fake = fake

    async def command(self, command: Cmd, *, allowed: bool = True) -> None:
        chat = TELEGRAM_CHAT if allowed else TELEGRAM_STRANGER
        await self._fake.push_message(chat, chat, command.text)

    def _chat(self, chat_id: int) -> list[Message]:
        return [message for _, message in sorted(self._fake.chats.get(chat_id, {}).items())]

    def messages(self, *, allowed: bool = True) -> list[Shown]:
        return [_telegram_shown(m) for m in self._chat(TELEGRAM_CHAT if allowed else TELEGRAM_STRANGER)]

    def followed(self, task_id: int) -> list[Shown]:
        return self.messages()

    def files(self) -> list[tuple[str, bytes, str]]:
        return [(m.document.filename, m.document.content, m.text) for m in self._fake.documents(TELEGRAM_CHAT)
                if m.document is not None]

    async def wait_for(self, condition: Callable[[], object]) -> None:
        await self._fake.wait_for(lambda: bool(condition()), WAIT)


DISCORD_CHANNEL = "940000000000000001"
DISCORD_USER = 950000000000000001
DISCORD_STRANGER = 950000000000000002


def _discord_shown(message: FakeMessage) -> Shown:
    return Shown(decoded(message), utf16_length(message.content), message.content.startswith("```"))


class DiscordHarness(ChatHarness):
    name = "discord"
    limit = 2000

    def __init__(self, transport: DiscordTransport, outbox: Outbox, fake: FakeDiscord) -> None:
        super().__init__(transport, outbox, DISCORD_CHANNEL)
        self._fake = fake

    async def command(self, command: Cmd, *, allowed: bool = True) -> None:
        user = DISCORD_USER if allowed else DISCORD_STRANGER
        await self._fake.invoke_slash(user, DISCORD_CHANNEL, *command.path, options=command.options)

    async def answers(self, command: Cmd) -> list[str]:
        """Invoke the slash command and return what its interaction was answered (Discord runs interactions
        side by side: their own answers, not an order in the channel, say which is whose)."""
        interaction = await self._fake.invoke_slash(DISCORD_USER, DISCORD_CHANNEL, *command.path,
                                                    options=command.options)

        def answer() -> FakeMessage | None:
            callbacks = self._fake.callbacks_for(interaction)
            original = self._fake.original_message(interaction)
            # A deferred answer ("thinking…") is complete once its original message has been edited.
            if not callbacks or original is None or (callbacks[0]["type"] == DEFERRED_CHANNEL_MESSAGE
                                                     and not original.content):
                return None
            return original

        await self.wait_for(answer)
        answered = answer()
        assert answered is not None
        return [decoded(answered)]

    def messages(self, *, allowed: bool = True) -> list[Shown]:
        # A stranger's refusal is ephemeral: only they see it.
        return [_discord_shown(m) for m in self._fake.channel_messages(DISCORD_CHANNEL, ephemeral=not allowed)]

    def followed(self, task_id: int) -> list[Shown]:
        # A task made by /task new gets a thread made from its reply, and its output goes there.
        place = next(iter(self._fake.threads), DISCORD_CHANNEL)
        return [_discord_shown(m) for m in self._fake.channel_messages(place)]

    def files(self) -> list[tuple[str, bytes, str]]:
        return [(attachment.filename, attachment.content, message.content)
                for message in self._fake.channel_messages(DISCORD_CHANNEL) for attachment in message.attachments]

    async def wait_for(self, condition: Callable[[], object]) -> None:
        await self._fake.wait_for(condition, WAIT)


def point_discord_at(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py's REST base and gateway are class attributes the transport sets from its config; monkeypatch
    puts the originals back after the test."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))


@asynccontextmanager
async def stdout_harness(app: BotApp, services: Services,
                         monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ChatHarness]:
    read_end, write_end = os.pipe()
    keyboard = os.fdopen(write_end, "wb", buffering=0)
    screen = _Screen()
    transport = StdoutTransport(stdin=os.fdopen(read_end, "rb"), stdout=screen)
    outbox = LineOutbox(transport)
    app.attach(transport, outbox)
    await transport.start(app, outbox)
    try:
        yield StdoutHarness(transport, outbox, screen, keyboard)
    finally:
        keyboard.close()
        await transport.stop()


@asynccontextmanager
async def telegram_harness(app: BotApp, services: Services,
                           monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ChatHarness]:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    config = TelegramTransportConfig(enabled=True, token=TELEGRAM_TOKEN, base_url=fake.base_url,
                                     allowed_chat_ids=[TELEGRAM_CHAT])
    transport = TelegramTransport(config, services.cursors, poll_timeout=10.0, request_timeout=2.0,
                                  interval=0.02, group_interval=0.05)
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    await transport.start(app, outbox)
    try:
        yield TelegramHarness(transport, outbox, fake)
    finally:
        await transport.stop()
        await fake.close()


@asynccontextmanager
async def discord_harness(app: BotApp, services: Services,
                          monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ChatHarness]:
    fake = FakeDiscord(DISCORD_TOKEN)
    await fake.start()
    point_discord_at(fake, monkeypatch)
    config = DiscordTransportConfig(enabled=True, token=DISCORD_TOKEN, allowed_user_ids=[DISCORD_USER],
                                    guild_ids=[int(GUILD_ID)], api_base=fake.api_base)
    transport = DiscordTransport(config, guild_ready_timeout=0.05, ready_timeout=10.0, interval=0.02)
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    try:
        await transport.start(app, outbox)
        yield DiscordHarness(transport, outbox, fake)
    finally:
        await transport.stop()
        await fake.close()


HARNESSES: dict[str, Callable[[BotApp, Services, pytest.MonkeyPatch],
                                AbstractAsyncContextManager[ChatHarness]]] = {
    "stdout": stdout_harness, "telegram": telegram_harness, "discord": discord_harness,
}

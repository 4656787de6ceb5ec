"""A chat service down for a while — answering 500s, timing out, resetting connections — through the real
python-telegram-bot and discord.py against their fakes: the transport keeps running, the outbox backs off, and
once the service is back every line of output arrives, in order, once; commands work again. The outage lasts
seconds here; the behaviour is the same for minutes (the backoff is capped at a minute in serve)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from orch.bot.app import BotApp
from orch.bot.chat import ChatRef
from orch.bot.message_outbox import MessageOutbox
from orch.core.config import DiscordTransportConfig, TelegramTransportConfig
from orch.core.events import OutputChunk, TaskChanged
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus
from orch.transports.base import Transport
from orch.transports.discord.transport import DiscordTransport
from orch.transports.telegram.transport import TelegramTransport

from tests.fakes.discord_api import DISCORD_TOKEN, GUILD_ID, FakeDiscord, decoded
from tests.fakes.outage import KINDS, Outage
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram
from tests.strategies import ErrorLog
from tests.transports.conftest import NoEngine
from tests.transports.harness import point_discord_at

OUTAGE_SECONDS = 3.0
REQUEST_TIMEOUT = 0.5  # the transports' patience per request; the fakes hang longer for a "timeout"
WAIT = 60.0
TELEGRAM_CHAT = 1001
DISCORD_CHANNEL = "940000000000000001"
DISCORD_USER = 950000000000000001


@dataclass
class Service:
    """A chat service as this test needs it: its outage, its chat, what it shows, and a command to type."""

    transport: Transport
    outage: Outage
    chat: ChatRef
    output: Callable[[], list[str]]  # every line of task output the chat shows, in order
    texts: Callable[[], list[str]]  # every message as it reads now
    command: Callable[[str], object]  # type a command (a coroutine to await)
    wait_for: Callable[[Callable[[], object]], object]  # a coroutine that waits for a condition


@asynccontextmanager
async def telegram(services: Services) -> AsyncIterator[Service]:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    config = TelegramTransportConfig(enabled=True, token=TELEGRAM_TOKEN, base_url=fake.base_url,
                                     allowed_chat_ids=[TELEGRAM_CHAT])
    transport = TelegramTransport(config, services.cursors, poll_timeout=1.0, request_timeout=REQUEST_TIMEOUT,
                                  retry_delays=(0.05,), interval=0.02, group_interval=0.05)

    def messages(preformatted: bool) -> list[str]:
        shown = [message for _, message in sorted(fake.chats.get(TELEGRAM_CHAT, {}).items())]
        return [m.text for m in shown if m.raw.startswith("<pre>") == preformatted]

    try:
        yield Service(
            transport, fake.outage, ChatRef("telegram", str(TELEGRAM_CHAT)),
            lambda: [line for text in messages(True) for line in text.split("\n")], lambda: fake.texts(TELEGRAM_CHAT),
            lambda text: fake.push_message(TELEGRAM_CHAT, TELEGRAM_CHAT, text),
            lambda condition: fake.wait_for(lambda: bool(condition()), WAIT),
        )
    finally:
        await fake.close()


@asynccontextmanager
async def discord(services: Services,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Service]:
    fake = FakeDiscord(DISCORD_TOKEN)
    await fake.start()
    point_discord_at(fake, monkeypatch)
    config = DiscordTransportConfig(enabled=True, token=DISCORD_TOKEN, allowed_user_ids=[DISCORD_USER],
                                    guild_ids=[int(GUILD_ID)], api_base=fake.api_base)
    transport = DiscordTransport(config, guild_ready_timeout=0.05, ready_timeout=10.0, interval=0.02,
                                 request_timeout=REQUEST_TIMEOUT)

    def messages(preformatted: bool) -> list[str]:
        shown = fake.channel_messages(DISCORD_CHANNEL)
        return [decoded(m) for m in shown if m.content.startswith("```") == preformatted]

    try:
        yield Service(
            transport, fake.outage, ChatRef("discord", DISCORD_CHANNEL),
            lambda: [line for text in messages(True) for line in text.split("\n")],
            lambda: [decoded(m) for m in fake.channel_messages(DISCORD_CHANNEL)],
            lambda text: fake.invoke_slash(DISCORD_USER, DISCORD_CHANNEL, *text.removeprefix("/").split()),
            lambda condition: fake.wait_for(condition, WAIT),
        )
    finally:
        await fake.close()


async def publish(services: Services, store: SqliteStore, task_id: int, lines: Sequence[str]) -> None:
    """What the engine does with output: store each chunk, then publish it."""
    assert services.hub is not None
    seq = await store.last_seq(task_id)
    for start in range(0, len(lines), 10):
        seq += 1
        chunk = Chunk(task_id, seq, "\n".join(lines[start:start + 10]), time.time())
        await store.append_chunks([chunk])
        services.hub.publish(OutputChunk(chunk))


@pytest.mark.parametrize("name", ["telegram", "discord"])
async def test_an_outage_loses_and_repeats_nothing_and_serve_goes_on(
        name: str, services: Services, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert services.hub is not None
    errors = ErrorLog()
    logging.getLogger("orch").addHandler(errors)
    app = BotApp(services, NoEngine(), services.hub)
    opened = telegram(services) if name == "telegram" else discord(services, monkeypatch)
    try:
        async with opened as service:
            # An outbox that gives up on a failing operation after two tries, as on a bug: an outage is not one.
            outbox = MessageOutbox(service.transport, max_attempts=2, backoff_seconds=0.1, max_backoff_seconds=0.5)
            app.attach(service.transport, outbox)
            await service.transport.start(app, outbox)
            try:
                task = await services.tasks.create("a long job")
                await app.follow(service.chat, task.id)
                lines = [f"line {n:03}" for n in range(1, 301)]
                await publish(services, store, task.id, lines[:20])
                await service.wait_for(lambda: len(service.output()) == 20)

                service.outage.begin(OUTAGE_SECONDS, hang_seconds=REQUEST_TIMEOUT * 2)
                # A command typed during the outage is run, and answered once the service is back.
                await service.command("/task list")
                await publish(services, store, task.id, lines[20:])
                done = await store.transition(task.id, TaskStatus.DONE)
                assert done is not None
                services.hub.publish(TaskChanged(done, TaskStatus.NEW))
                await service.wait_for(lambda: any(text.startswith("task 1 done") for text in service.texts()))
                assert not service.outage.active
                assert set(service.outage.met) == set(KINDS), service.outage.met
                # (the task list answered is preformatted too: only the task's own lines are compared)
                assert [line for line in service.output() if line.startswith("line ")] == lines
                await service.wait_for(lambda: any("a long job" in text for text in service.texts()))
                assert sum("a long job" in text for text in service.texts()) == 1, service.texts()

                # Still serving: a command typed after the outage is answered.
                await service.command("/status")
                await service.wait_for(lambda: any(text.startswith("engine: ") for text in service.texts()))
            finally:
                await service.transport.stop()
    finally:
        await app.stop()
        logging.getLogger("orch").removeHandler(errors)
    assert not errors.records, [record.getMessage() for record in errors.records]


async def test_interactions_discord_cannot_answer_during_an_outage_are_answered_in_the_channel(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slash commands that arrive while Discord's REST API is down run; their answers cannot go through the
    interactions any more, so they arrive in the channel once Discord is back, once each, and nothing logs an
    error."""
    assert services.hub is not None
    errors = ErrorLog()
    logging.getLogger("orch").addHandler(errors)
    app = BotApp(services, NoEngine(), services.hub)
    try:
        async with discord(services, monkeypatch) as service:
            outbox = MessageOutbox(service.transport, max_attempts=2, backoff_seconds=0.1, max_backoff_seconds=0.5)
            app.attach(service.transport, outbox)
            await service.transport.start(app, outbox)
            try:
                await services.tasks.create("made before the outage")
                service.outage.begin(OUTAGE_SECONDS, hang_seconds=REQUEST_TIMEOUT * 2)
                await service.command("/status")
                await service.command("/task list")
                await service.wait_for(lambda: len(service.texts()) >= 2)
                texts = service.texts()
                assert sum(text.startswith("engine: not running") for text in texts) == 1, texts
                assert sum("made before the outage" in text for text in texts) == 1, texts
                assert len(texts) == 2 and service.outage.met
            finally:
                await service.transport.stop()
    finally:
        await app.stop()
        logging.getLogger("orch").removeHandler(errors)
    assert not errors.records, [record.getMessage() for record in errors.records]

"""A chat service unreachable when orch serve starts: one line, no traceback, serve runs on, and the transport
comes up once the service answers — the real python-telegram-bot and discord.py, their fakes started late on the
port orch already looks at."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest
from orch.bot.app import BotApp
from orch.bot.chat import Unavailable
from orch.bot.message_outbox import MessageOutbox
from orch.core.config import DiscordTransportConfig, TelegramTransportConfig
from orch.core.services import Services
from orch.transports.discord.transport import DiscordTransport
from orch.transports.reconnect import Reconnecting
from orch.transports.telegram.transport import TelegramTransport

from tests.conftest import wait_until
from tests.fakes.discord_api import CHANNEL_MESSAGE, DISCORD_TOKEN, GUILD_ID, FakeDiscord
from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram
from tests.transports.harness import point_discord_at

CHAT = 1001
DISCORD_USER = 950000000000000001
DISCORD_CHANNEL = "940000000000000001"
WAIT = 20.0
QUICK = (0.05, 0.1)  # the retries' backoff, so the test waits on the service, not on the clock


class Idle:
    def status_lines(self) -> list[str]:
        return ["engine: idle"]


@pytest.fixture
async def app(services: Services) -> AsyncIterator[BotApp]:
    assert services.hub is not None
    bot = BotApp(services, Idle(), services.hub)
    yield bot
    await bot.stop()


def free_port() -> int:
    """A port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """orch's warnings (discord.py has its own about voice support and intents)."""
    return [record for record in caplog.records if record.levelno >= logging.WARNING and record.name.startswith("orch")]


def reachable(caplog: pytest.LogCaptureFixture, name: str) -> bool:
    """Whether the transport said (on the terminal too) that it is up."""
    return any(record.getMessage().startswith(f"{name}: reachable now") and getattr(record, "console", False)
               for record in caplog.records)


async def test_telegram_unreachable_at_start_comes_up_when_the_bot_api_answers(
        app: BotApp, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    config = TelegramTransportConfig(enabled=True, token=TELEGRAM_TOKEN, allowed_chat_ids=[CHAT],
                                     base_url=f"http://127.0.0.1:{port}/bot")
    transport = Reconnecting(TelegramTransport(config, services.cursors, poll_timeout=5.0, request_timeout=2.0,
                                               retry_delays=(0.05,), interval=0.05), backoff=QUICK)
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    fake = FakeTelegram(TELEGRAM_TOKEN)
    try:
        with caplog.at_level(logging.INFO):
            await transport.start(app, outbox)  # returns: serve goes on with its other transports
            [line] = refusals(caplog)
            assert line.getMessage().startswith(
                f"telegram: cannot reach the Bot API at http://127.0.0.1:{port}/bot: ")
            assert line.exc_info is None  # one line, no traceback
            with pytest.raises(Unavailable):  # the outbox keeps what it would send, as in any outage
                await transport.send(str(CHAT), "early")
            await fake.start(port)
            await fake.push_message(CHAT, CHAT, "/task list")
            await fake.wait_for(lambda: fake.texts(CHAT) == ["no tasks"], WAIT)
        assert reachable(caplog, "telegram")
        assert len(refusals(caplog)) == 1
    finally:
        await transport.stop()
        await fake.close()


async def test_discord_unreachable_at_start_comes_up_when_discord_answers(
        app: BotApp, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    fake = FakeDiscord(DISCORD_TOKEN)
    config = DiscordTransportConfig(enabled=True, token=DISCORD_TOKEN, allowed_user_ids=[DISCORD_USER],
                                    guild_ids=[int(GUILD_ID)], api_base=f"http://127.0.0.1:{port}/api/v10",
                                    gateway_url=f"ws://127.0.0.1:{port}/gateway")
    transport = Reconnecting(DiscordTransport(config, guild_ready_timeout=0.05, ready_timeout=10.0), backoff=QUICK)
    outbox = MessageOutbox(transport)
    app.attach(transport, outbox)
    try:
        with caplog.at_level(logging.INFO):
            await transport.start(app, outbox)
            [line] = refusals(caplog)
            assert line.getMessage().startswith(f"discord: cannot reach Discord at http://127.0.0.1:{port}/api/v10: ")
            assert line.exc_info is None
            await fake.start(port)
            point_discord_at(fake, monkeypatch)
            async def ready() -> bool:
                return reachable(caplog, "discord")

            await wait_until(ready, WAIT, "discord connected and ready")
            assert GUILD_ID in fake.synced
            interaction = await fake.invoke_slash(DISCORD_USER, DISCORD_CHANNEL, "task", "list")
            [answer, *_] = await fake.wait_for(lambda: fake.callbacks_for(interaction), seconds=WAIT)
            assert answer["type"] == CHANNEL_MESSAGE and answer["data"]["content"] == "no tasks"
    finally:
        await transport.stop()
        await fake.close()

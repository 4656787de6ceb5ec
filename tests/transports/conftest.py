"""Fixtures for the transport tests: the fake Discord, with discord.py pointed at it; and `chat`, one harness per
transport (harness.py) over a real BotApp, for the tests every transport must pass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from orch.bot.app import BotApp
from orch.core.config import Config
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore

from tests.fakes.discord_api import DISCORD_TOKEN, FakeDiscord
from tests.transports.harness import HARNESSES, ChatHarness, point_discord_at


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(DISCORD_TOKEN)
    await server.start()
    point_discord_at(server, monkeypatch)
    yield server
    await server.close()


class NoEngine:
    def status_lines(self) -> list[str]:
        return ["engine: not running"]


@pytest.fixture
async def services(home: OrchHome, store: SqliteStore) -> Services:
    return Services(home, store, config=Config(), hub=EventHub())


@pytest.fixture(params=sorted(HARNESSES))
async def chat(request: pytest.FixtureRequest, services: Services,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ChatHarness]:
    assert services.hub is not None
    app = BotApp(services, NoEngine(), services.hub)
    try:
        async with HARNESSES[request.param](app, services, monkeypatch) as harness:
            yield harness
    finally:
        await app.stop()

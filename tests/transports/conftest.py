"""Fixtures for the transport tests: the fake Discord, with discord.py pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.discord_api import DISCORD_TOKEN, FakeDiscord
from tests.transports.harness import point_discord_at


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(DISCORD_TOKEN)
    await server.start()
    point_discord_at(server, monkeypatch)
    yield server
    await server.close()

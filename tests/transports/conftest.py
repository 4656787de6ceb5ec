"""Fixtures for transport tests: a fake Telegram Bot API server in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram


@pytest.fixture
async def fake_telegram(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    yield fake
    await fake.close()

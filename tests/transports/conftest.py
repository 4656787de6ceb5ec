"""Fixtures for transport tests: a fake Telegram Bot API server in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import TELEGRAM_TOKEN, FakeTelegram


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    # NO_PROXY for 127.0.0.1 is set for every test by tests/conftest.py.
    fake = FakeTelegram(TELEGRAM_TOKEN)
    await fake.start()
    yield fake
    await fake.close()

"""Generated input through each real transport and its service's stand-in: the transports' own parsing holds too.

The terminal gets generated lines as bytes on its stdin (lone surrogates arrive as bytes that are not UTF-8),
Telegram gets them as messages through python-telegram-bot from the fake Bot API (JSON carries them as
`"\\ud800"`), Discord gets generated slash commands, with values Discord itself would send, through discord.py.
No answer may be "internal error", and nothing may be logged at ERROR. A few hundred examples per transport:
the parser and dispatcher behind them get 10,000 each in tests/bot/test_fuzz_dispatch.py.

Hypothesis runs in a worker thread; each example is handed to the test's event loop, where the transport runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, example, given, settings
from orch.bot.dispatch import FAILED

from tests.strategies import ErrorLog, command_lines, slash_calls
from tests.transports.harness import ChatHarness, Cmd

EXAMPLES = 300
_T = TypeVar("_T")


async def test_generated_input_never_reaches_internal_error(chat: ChatHarness) -> None:
    loop = asyncio.get_running_loop()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)

    def run(work: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(work, loop).result()

    def check(typed: object, answers: list[str]) -> None:
        assert all(FAILED not in answer for answer in answers), f"{typed!r} -> {answers!r}"
        assert not errors.records, f"{typed!r} logged: {errors.records[0].getMessage()}"

    fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

    @fuzz
    @given(command_lines())
    @example("/task new \ud800 lone surrogate")  # JSON carries it to Telegram's library; bytes to the terminal
    def typed(line: str) -> None:
        check(line, run(chat.answers(Cmd(line, ()))))

    @fuzz
    @given(slash_calls())
    @example((("task", "new"), {"title": "\ud800 lone surrogate", "label": "a,\udfff"}))
    def invoked(call: tuple[tuple[str, ...], dict[str, object]]) -> None:
        path, options = call
        check(call, run(chat.answers(Cmd("", path, options))))

    try:
        await asyncio.to_thread(invoked if chat.name == "discord" else typed)
        assert all(FAILED not in shown.text for shown in chat.messages())
    finally:
        logging.getLogger().removeHandler(errors)

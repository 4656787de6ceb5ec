"""Buttons as chat services carry them: the data a press sends back, and rows of a keyboard.

A press sends back a short string (Telegram's callback_data, at most 64 bytes; Discord's custom_id, at most 100
characters). It is the button's command itself when that fits — so a press means the same after a restart, and
whoever reads the raw update sees what it runs — else a code (`#` and a hash of the command) kept in the
transport's CursorStore. A button that asks its presser for text first (bot.chat.Button.needs_text) has `?`
before its command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from orch.bot.chat import Button
from orch.transports.base import CursorStore

_TEXT = "?"
_CODE = "#"
_KEY = "{transport}.button.{code}"


@dataclass(frozen=True)
class Pressed:
    """What a press asks for: run `command`, or first ask the presser for the text that completes it."""

    command: str
    needs_text: bool


class ButtonCodes:
    """Turns buttons into press data within a service's limit, and press data back into what to run."""

    def __init__(self, transport: str, limit: int, cursor: CursorStore | None = None) -> None:
        """`limit`: of the data, in UTF-8 bytes; `cursor`: where codes are kept (in memory when None: a press on
        a button made before a restart then says it expired)."""
        self._transport = transport
        self._limit = limit
        self._cursor = cursor
        self._memory: dict[str, str] = {}

    async def data(self, button: Button) -> str:
        plain = (_TEXT if button.needs_text else "") + button.command
        if len(plain.encode()) <= self._limit:
            return plain
        # The same command always gets the same code: editing a message with its buttons adds nothing.
        code = _CODE + hashlib.sha256(plain.encode()).hexdigest()[:32]
        key = _KEY.format(transport=self._transport, code=code)
        if self._cursor is None:
            self._memory[key] = plain
        elif await self._cursor.get(key) != plain:
            await self._cursor.set(key, plain)
        return code

    async def pressed(self, data: str) -> Pressed | None:
        """What the data of a pressed button asks for; None when it is not orch's (or its code is forgotten)."""
        plain: str | None = data
        if data.startswith(_CODE):
            key = _KEY.format(transport=self._transport, code=data)
            plain = self._memory.get(key) if self._cursor is None else await self._cursor.get(key)
        if plain is None:
            return None
        needs_text = plain.startswith(_TEXT)
        command = plain.removeprefix(_TEXT)
        return Pressed(command, needs_text) if command.startswith("/") else None


def rows(buttons: Sequence[Button], *, per_row: int, row_chars: int = 40) -> list[list[Button]]:
    """Buttons in rows of at most `per_row`, a row ending early when its labels would pass `row_chars` (long
    labels get rows of their own, so phones show them whole)."""
    laid: list[list[Button]] = []
    width = 0
    for button in buttons:
        if not laid or len(laid[-1]) >= per_row or width + len(button.label) > row_chars:
            laid.append([])
            width = 0
        laid[-1].append(button)
        width += len(button.label)
    return laid


def shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"

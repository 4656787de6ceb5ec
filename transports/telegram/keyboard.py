"""Buttons as Telegram shows them: an inline keyboard under the message, each press a callback query whose data
is the button's command (or a code for it: transports/buttons.py)."""

from __future__ import annotations

from collections.abc import Sequence

from orch.bot.chat import Button
from orch.transports.buttons import ButtonCodes, rows, shorten
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit
_PER_ROW = 3
_LABEL_LIMIT = 64


async def inline_keyboard(buttons: Sequence[Button], codes: ButtonCodes) -> InlineKeyboardMarkup | None:
    """The keyboard for `buttons`; None without buttons (an edit without one removes the keyboard)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(shorten(button.label, _LABEL_LIMIT), callback_data=await codes.data(button))
         for button in row]
        for row in rows(buttons, per_row=_PER_ROW)
    ])

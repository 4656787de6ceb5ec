"""Buttons as Discord shows them: message components under a message, each press a component interaction whose
custom_id is the button's command (or a code for it: transports/buttons.py). A button that needs text opens a
modal with one text input, whose submission carries the same custom_id.

orch answers presses and submissions itself (Receiver.on_interaction), from the custom_id alone, so a button
works the same after a restart: the views and modals built here are stopped before they are sent, which tells
discord.py not to keep them (it would otherwise hold every message's view in memory for ever).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord
from orch.bot.chat import Button
from orch.transports.buttons import ButtonCodes, rows, shorten

CUSTOM_ID_LIMIT = 100  # Discord's limit, in characters (bytes here: never more)
_PER_ROW = 5
_MAX_ROWS = 5
_LABEL_LIMIT = 80
_TITLE_LIMIT = 45
_TEXT_LIMIT = 4000
TEXT_INPUT = "text"


async def view(buttons: Sequence[Button], codes: ButtonCodes) -> discord.ui.View | None:
    """The components for `buttons` (Discord shows at most five rows of five); None without buttons."""
    if not buttons:
        return None
    shown = discord.ui.View(timeout=None)
    for number, row in enumerate(rows(buttons, per_row=_PER_ROW, row_chars=_LABEL_LIMIT)[:_MAX_ROWS]):
        for button in row:
            shown.add_item(discord.ui.Button(label=shorten(button.label, _LABEL_LIMIT), row=number,
                                             custom_id=await codes.data(button),
                                             style=discord.ButtonStyle.secondary))
    shown.stop()
    return shown


def text_modal(command: str, custom_id: str) -> discord.ui.Modal:
    """Asks the presser for the text that completes `command`."""
    modal = discord.ui.Modal(title=shorten(command, _TITLE_LIMIT), custom_id=custom_id)
    modal.add_item(discord.ui.TextInput(label=shorten(f"your text for {command}", _TITLE_LIMIT),
                                        style=discord.TextStyle.paragraph, custom_id=TEXT_INPUT,
                                        max_length=_TEXT_LIMIT))
    modal.stop()
    return modal


def submitted_text(data: Mapping[str, Any] | None) -> str:
    """The text typed into a submitted modal (its components hold the input, in rows or labels)."""
    pending = list((data or {}).get("components", []))
    while pending:
        component = pending.pop(0)
        if component.get("custom_id") == TEXT_INPUT and "value" in component:
            return str(component["value"])
        pending.extend(component.get("components", []))
        if isinstance(component.get("component"), dict):
            pending.append(component["component"])
    return ""

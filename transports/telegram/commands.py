"""Telegram commands built from the declarations in bot/commands.py.

Each top-level command gets a CommandHandler and a line in the menu setMyCommands publishes; /start, which
Telegram sends when someone opens the bot, is /help. Unknown commands and every other message in a private
chat go to the message handler too, and so do replies and forum topic messages in a group (they may be a task's
follow-ups); other chatter in a group never reaches orch. Button presses (callback queries) have a handler of
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from orch.bot.commands import top_level_commands
from telegram import BotCommand, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

OnUpdate = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
OnError = Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def menu() -> list[BotCommand]:
    return [BotCommand(name, help_) for name, help_ in top_level_commands()]


def register(app: Application[Any, Any, Any, Any, Any, Any], on_message: OnUpdate, on_start: OnUpdate,
             on_press: OnUpdate, on_error: OnError) -> None:
    only_messages = filters.UpdateType.MESSAGE
    for name, _ in top_level_commands():
        app.add_handler(CommandHandler(name, on_message, filters=only_messages))
    app.add_handler(CommandHandler("start", on_start, filters=only_messages))
    maybe_ours = filters.COMMAND | filters.ChatType.PRIVATE | filters.REPLY | filters.IS_TOPIC_MESSAGE
    app.add_handler(MessageHandler(only_messages & maybe_ours, on_message))
    app.add_handler(CallbackQueryHandler(on_press))
    app.add_error_handler(on_error)


def addressed_elsewhere(text: str, username: str | None) -> bool:
    """Whether `text` is a command for another bot (`/help@other_bot`, as typed in a group)."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    addressed_to = first.partition("@")[2] if first.startswith("/") else ""
    return bool(addressed_to) and addressed_to.lower() != (username or "").lower()

"""The Telegram transport: python-telegram-bot inside `orch serve`'s event loop.

Receiving. The transport drives getUpdates itself (no Updater, no run_polling) and hands each update to PTB's
Application.process_update, which runs the matching handler (one CommandHandler per top-level command of
bot.commands, plus a fallback) to completion. Only then is the update acknowledged: the next offset is written
to the CursorStore (orch.db) and sent with the next getUpdates. PTB's Updater instead acknowledges an update
as soon as it is queued, so a stop or crash between fetch and handling would lose it. After a restart the
stored offset is sent first, so Telegram re-delivers exactly the updates that were not handled. A stop waits
for the update being handled and never acknowledges one it did not handle; only a crash in the short window
between a command's effect and the cursor write can run that one command again.

Allow-list. Every update goes through BotApp, which checks `is_allowed`: a chat is allowed when its chat id is
in `allowed_chat_ids` or the sender's user id is in `allowed_user_ids`; both lists empty means nobody (a bot is
public, so the safe default is closed). A refused chat is answered with BotApp's short refusal once per run of
the transport; later messages from it are handled (and logged by BotApp, with the chat and user ids to put in
config.yml) but not answered, so a stranger cannot make the bot spend its flood budget. Nothing is created for
a refused chat. /start, which Telegram sends when someone opens the bot, is /help.

Sending. Text is HTML-escaped and sent with parse_mode HTML (terminal output breaks Markdown); preformatted
text goes in `<pre>`. Lengths are counted in UTF-16 units of that escaped, wrapped text, which is never less
than what Telegram counts against its 4096 limit. `send` splits a longer text at line boundaries (a line longer
than a whole message is cut) and returns the last message's id; `edit` is for text that fits one message.
Pacing belongs to the caller's outbox: a 429 becomes bot.chat.RateLimited(retry_after), and so does a send to a
group sooner than GROUP_INTERVAL after the previous one (Telegram allows 20 messages a minute in a group).
Timeouts, connection errors and 5xx are retried here with backoff a bounded number of times; an edit that
changes nothing is not an error.

The bot token is part of every request URL: httpx logs those at INFO and PTB logs its base URL at DEBUG. The
httpx logger is raised to WARNING, those loggers get a TokenFilter that replaces the token, and `orch serve` can
put the same filter (TelegramTransport.log_filter) on its handlers. orch itself never logs the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from orch.bot.chat import Capabilities, ChatRef, CommandSink, RateLimited, Reply
from orch.bot.commands import top_level_commands
from orch.core.config import TelegramTransportConfig
from orch.core.errors import ConfigError
from orch.transports.base import CursorStore, Transport

try:
    from telegram import BotCommand, LinkPreviewOptions, Message, Update
    from telegram.constants import ParseMode
    from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
    from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes, MessageHandler, filters
    from telegram.warnings import PTBDeprecationWarning
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "transports.telegram needs python-telegram-bot: pip install 'orch-agents[telegram]'"
    ) from exc

log = logging.getLogger("orch.telegram")

MAX_MESSAGE = 4096
GROUP_INTERVAL = 3.0
_PRE_OVERHEAD = len("<pre></pre>")
# Telegram rejects a message whose text is empty or only whitespace; this one shows as blank.
_BLANK = "\u200b"
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_T = TypeVar("_T")
# The loggers that write request or base URLs, which carry the token.
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render(text: str, preformatted: bool) -> str:
    """The HTML Telegram gets for `text`."""
    escaped = html.escape(text, quote=False)
    return f"<pre>{escaped}</pre>" if preformatted else escaped


def rendered_len(text: str, preformatted: bool) -> int:
    return utf16_len(html.escape(text, quote=False)) + (_PRE_OVERHEAD if preformatted else 0)


def _cut_line(line: str, budget: int) -> list[str]:
    """A line too long for one message, in pieces that each fit once escaped (never inside a character)."""
    pieces: list[str] = []
    start = size = 0
    for index, char in enumerate(line):
        cost = utf16_len(html.escape(char, quote=False))
        if size + cost > budget:
            pieces.append(line[start:index])
            start, size = index, 0
        size += cost
    pieces.append(line[start:])
    return pieces


def split_text(text: str, preformatted: bool, limit: int = MAX_MESSAGE) -> list[str]:
    """`text` in pieces that each render within `limit`, split at line boundaries."""
    budget = limit - (_PRE_OVERHEAD if preformatted else 0)
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        parts = [line] if rendered_len(line, False) <= budget else _cut_line(line, budget)
        for part in parts:
            cost = rendered_len(part, False)
            if current and size + 1 + cost > budget:
                pieces.append("\n".join(current))
                current, size = [], 0
            size += cost + (1 if current else 0)
            current.append(part)
    pieces.append("\n".join(current))
    return pieces


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB warns that retry_after will become a timedelta; accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TokenFilter(logging.Filter):
    """Replaces the bot token in a log record's message."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "<telegram-token>")
            record.args = None
        return True


class TelegramTransport(Transport):
    """One Telegram bot. Wiring in `orch serve`: TelegramTransport(config.transports.telegram,
    KvCursor(store)), then bot_app.attach(transport) and await transport.start(bot_app)."""

    name = "telegram"
    capabilities = Capabilities(max_message_length=MAX_MESSAGE, can_edit=True, min_interval_seconds=1.0)

    def __init__(
        self,
        config: TelegramTransportConfig,
        cursor: CursorStore,
        *,
        poll_timeout: float = 30.0,
        request_timeout: float = 10.0,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        group_interval: float = GROUP_INTERVAL,
        stop_grace: float = 30.0,
    ) -> None:
        if not config.token:
            raise ConfigError("transports.telegram.token: empty (set it, e.g. to ${TELEGRAM_BOT_TOKEN})")
        self._config = config
        self._cursor = cursor
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        self._retry_delays = tuple(retry_delays)
        self._group_interval = group_interval
        self._stop_grace = stop_grace
        self._allowed_chats = frozenset(str(chat) for chat in config.allowed_chat_ids)
        self._allowed_users = frozenset(str(user) for user in config.allowed_user_ids)
        self.log_filter = TokenFilter(config.token)
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._sink: CommandSink | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._cursor_key = ""
        self._offset: int | None = None
        self._refused: set[str] = set()
        self._last_group_call: dict[str, float] = {}

    # lifecycle
    async def start(self, sink: CommandSink) -> None:
        self._quiet_token_in_logs()
        builder = ApplicationBuilder().token(self._config.token).updater(None).job_queue(None)
        if self._config.base_url:
            builder = builder.base_url(self._config.base_url)
        timeout = self._request_timeout
        app = (builder.connect_timeout(timeout).read_timeout(timeout).write_timeout(timeout).pool_timeout(timeout)
               .get_updates_connect_timeout(timeout).get_updates_read_timeout(timeout)
               .get_updates_write_timeout(timeout).get_updates_pool_timeout(timeout).build())
        self._register_handlers(app)
        try:
            await app.initialize()
            await app.start()
            self._cursor_key = f"telegram.{app.bot.id}.update_offset"
            stored = await self._cursor.get(self._cursor_key)
            self._offset = int(stored) if stored else None
            # getUpdates is refused while a webhook is set; keep pending updates, they are commands to run.
            await app.bot.delete_webhook(drop_pending_updates=False)
            await app.bot.set_my_commands([BotCommand(name, help_) for name, help_ in top_level_commands()])
        except BaseException as exc:
            if app.running:
                await app.stop()
            await app.shutdown()
            if isinstance(exc, InvalidToken):
                raise ConfigError("transports.telegram.token: Telegram does not accept this token") from None
            raise
        self._app, self._sink = app, sink
        self._stopping.clear()
        self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        log.info("telegram: polling as @%s from offset %s", app.bot.username, self._offset)

    async def stop(self) -> None:
        """Stop after the update being handled (if any); updates fetched but not handled stay unacknowledged."""
        self._stopping.set()
        if self._poller is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._poller), self._stop_grace)
            except TimeoutError:
                # Better to run that one command again after the restart than to hang the shutdown.
                log.warning("telegram: the command being handled did not finish in %.0f s; stopping anyway",
                            self._stop_grace)
                self._poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._poller
            self._poller = None
        if self._app is not None:
            await self._app.stop()
            await self._app.shutdown()
            self._app = None
        for name in _URL_LOGGERS:
            logging.getLogger(name).removeFilter(self.log_filter)

    def _quiet_token_in_logs(self) -> None:
        httpx_log = logging.getLogger("httpx")
        if httpx_log.getEffectiveLevel() < logging.WARNING:
            httpx_log.setLevel(logging.WARNING)
        # Redact too, for whoever turns these loggers up to debug a connection.
        for name in _URL_LOGGERS:
            logging.getLogger(name).addFilter(self.log_filter)

    # ChatPort
    def is_allowed(self, chat: ChatRef) -> bool:
        return chat.chat_id in self._allowed_chats or (chat.user_id is not None and chat.user_id in self._allowed_users)

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return rendered_len(text, preformatted)

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False) -> str:
        """Send `text` (split when longer than one message); returns the id of the last message sent.

        RateLimited before the first message leaves means nothing was sent. Once one has, the rest are sent
        after waiting out any flood answer here, since the caller retrying the whole text would repeat it.
        """
        pieces = [piece for piece in split_text(text, preformatted) if piece.strip()] or [_BLANK]
        message = await self._send_one(chat_id, pieces[0], preformatted)
        for piece in pieces[1:]:
            while True:
                try:
                    message = await self._send_one(chat_id, piece, preformatted)
                    break
                except RateLimited as exc:
                    await asyncio.sleep(exc.retry_after)
        return str(message.message_id)

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False) -> None:
        rendered = render(text if text.strip() else _BLANK, preformatted)
        if utf16_len(rendered) > MAX_MESSAGE:
            raise ValueError(f"edit of {utf16_len(rendered)} UTF-16 units: over Telegram's {MAX_MESSAGE}")
        bot = self._require_app().bot
        try:
            await self._request(chat_id, lambda: bot.edit_message_text(
                rendered, chat_id=int(chat_id), message_id=int(message_id), parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW))
        except BadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                raise

    async def _send_one(self, chat_id: str, text: str, preformatted: bool) -> Message:
        bot = self._require_app().bot
        rendered = render(text, preformatted)
        return await self._request(chat_id, lambda: bot.send_message(
            int(chat_id), rendered, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW))

    async def _request(self, chat_id: str, call: Callable[[], Awaitable[_T]]) -> _T:
        if chat_id.startswith("-"):
            # A group: Telegram allows 20 messages a minute. Tell the outbox to wait, as a 429 would.
            wait = self._last_group_call.get(chat_id, -self._group_interval) + self._group_interval - time.monotonic()
            if wait > 0:
                raise RateLimited(wait)
            self._last_group_call[chat_id] = time.monotonic()
        for delay in (*self._retry_delays, None):
            try:
                return await call()
            except RetryAfter as exc:
                raise RateLimited(_retry_seconds(exc)) from None
            except BadRequest:
                raise
            except NetworkError as exc:  # timeouts, connection errors, 5xx
                if delay is None:
                    raise
                log.warning("telegram: request to chat %s failed (%s); retrying in %.1f s", chat_id, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _require_app(self) -> Application[Any, Any, Any, Any, Any, Any]:
        if self._app is None:
            raise RuntimeError("the telegram transport is not started")
        return self._app

    # receiving
    def _register_handlers(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        only_messages = filters.UpdateType.MESSAGE
        for name, _ in top_level_commands():
            app.add_handler(CommandHandler(name, self._on_message, filters=only_messages))
        app.add_handler(CommandHandler("start", self._on_start, filters=only_messages))
        # Unknown commands anywhere, and plain text in a private chat, get a line back; group chatter does not.
        app.add_handler(MessageHandler(only_messages & (filters.COMMAND | filters.ChatType.PRIVATE),
                                       self._on_message))
        app.add_error_handler(self._on_error)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The update still counts as handled: running it again would fail the same way.
        log.error("telegram: handling an update failed", exc_info=context.error)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._handle(update, "/help")

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        text = message.text or message.caption or ""
        first = text.split(maxsplit=1)[0] if text.strip() else ""
        addressed_to = first.partition("@")[2] if first.startswith("/") else ""
        if addressed_to and addressed_to.lower() != (context.bot.username or "").lower():
            return  # a command for another bot in the same group
        await self._handle(update, text)

    async def _handle(self, update: Update, text: str) -> None:
        message = update.message
        if message is None or self._sink is None:
            return
        user = message.from_user
        chat = ChatRef(self.name, str(message.chat_id), str(user.id) if user is not None else None)
        allowed = self.is_allowed(chat)
        replies = await self._sink.handle_text(chat, text)
        if not allowed:
            if chat.chat_id in self._refused:
                return
            self._refused.add(chat.chat_id)
        for reply in replies:
            await self._deliver(chat.chat_id, reply)

    async def _deliver(self, chat_id: str, reply: Reply) -> None:
        """Send a command's reply, waiting out flood answers: a person is waiting for it."""
        for _ in range(20):
            try:
                await self.send(chat_id, reply.text, preformatted=reply.preformatted)
                return
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after)
            except TelegramError as exc:
                log.error("telegram: could not reply in chat %s: %s", chat_id, exc)
                return
        log.error("telegram: gave up replying in chat %s after repeated flood answers", chat_id)

    async def _poll(self) -> None:
        app = self._require_app()
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self._unless_stopping(app.bot.get_updates(
                    offset=self._offset, timeout=self._poll_timeout, allowed_updates=[Update.MESSAGE]))
            except RetryAfter as exc:
                await self._pause(_retry_seconds(exc))
                continue
            except InvalidToken:
                log.error("telegram: the bot token was revoked; not polling any more")
                return
            except TelegramError as exc:  # network trouble, 5xx, or another process polling this bot
                failures += 1
                delay = min(60.0, 2.0 ** min(failures - 1, 6))
                log.warning("telegram: getUpdates failed (%s); again in %.0f s", exc, delay)
                await self._pause(delay)
                continue
            if updates is None:
                return
            failures = 0
            for update in updates:
                if self._stopping.is_set():
                    return
                await app.process_update(update)
                self._offset = update.update_id + 1
                try:
                    await self._cursor.set(self._cursor_key, str(self._offset))
                except Exception:
                    # Keep serving: the offset goes on in memory; only a restart before the next write repeats.
                    log.exception("telegram: could not store the update offset %s", self._offset)

    async def _unless_stopping(self, call: Coroutine[Any, Any, _T]) -> _T | None:
        """The call's result, or None once stop() was asked for (the call is then abandoned)."""
        work = asyncio.ensure_future(call)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await work
        return work.result() if not work.cancelled() else None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

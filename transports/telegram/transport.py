"""The Telegram transport: python-telegram-bot inside `orch serve`'s event loop.

Receiving. The transport drives getUpdates itself (no Updater, no run_polling) and hands each update to PTB's
Application.process_update, which runs the matching handler (commands.py) to completion, replies included:
they go through the transport's outbox, which returns once they are sent. Only then is the update
acknowledged: the next offset is written to the CursorStore (orch.db) and sent with the next getUpdates. PTB's
Updater instead acknowledges an update as soon as it is queued, so a stop or crash between fetch and handling
would lose it. After a restart the stored offset is sent first, so Telegram re-delivers exactly the updates
that were not handled. A stop waits for the update being handled and never acknowledges one it did not
handle; only a crash in the short window between a command's effect and the cursor write can run that one
command again.

What each update means — commands, follow-ups by reply or in a forum topic, button presses and their prompts
for text, a topic for each task made in a forum — is receive.py's. A forum topic is carried as the chat id
"CHAT:THREAD" (places.py).

Allow-list. Every update goes through BotApp, which checks `is_allowed`: a chat is allowed when its chat id is
in `allowed_chat_ids` or the sender's (or presser's) user id is in `allowed_user_ids`; both lists empty means
nobody (a bot is public, so the safe default is closed). A refused chat is answered with BotApp's refusal and
`allow_hint` (its chat and user ids, and the config keys they go in) at most once an hour; messages in between are
handled (and logged by BotApp) but not answered, so a stranger cannot make the bot spend its flood budget.
Nothing is created for a refused chat. In a group, orch sees plain messages only when they reply to its own, unless the
bot's privacy mode is off or it is an admin (which a forum needs anyway: making topics is an admin right).

Sending. The transport renders (render.py: HTML, `<pre>` for output, UTF-16 lengths; keyboard.py: buttons as an
inline keyboard, kept on every edit) and sends one message at a time; the outbox splits and paces. A notice
for a task's creator replies to the message they asked with (allow_sending_without_reply: if it is gone, the
notice still goes); in the task's forum topic, which that message is not in, it mentions them instead. Prompts
for text and new topics answer a press or a command at once, outside the outbox. It declares its pace with
`min_interval`: one operation a second in a chat, one per three seconds in a group (Telegram allows 20 messages
a minute there; each forum topic is paced on its own). A 429 becomes
bot.chat.RateLimited(retry_after) for the outbox to wait out, a refusal for good (the bot blocked by the user or
removed from the group, a bad request) bot.chat.Undeliverable for it to drop. Timeouts, connection errors and
5xx are retried here with backoff a few times, then raised as bot.chat.Unavailable, which the outbox retries
for as long as the outage lasts; an edit that changes nothing is not an error.

The bot token is part of every request URL: httpx logs those at INFO and PTB logs its base URL at DEBUG. The
httpx logger is raised to WARNING, and the log filter (core.redact.RedactingFilter, orch serve's, which this
transport hands its token to) is installed on the httpx and telegram loggers while the transport runs. orch
itself never logs the token.

Starting. A Bot API that cannot be reached (no network, a wrong base_url, Telegram failing) makes start() raise
transports.base.Unreachable after cleaning up; orch serve starts it again later (transports.reconnect). A token
Telegram refuses is a ConfigError.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from orch.bot.chat import (
    Button,
    Capabilities,
    ChatRef,
    CommandSink,
    Mention,
    RateLimited,
    Unavailable,
    Undeliverable,
)
from orch.bot.outbox import Outbox
from orch.bot.split import utf16_length
from orch.core.config import TelegramTransportConfig
from orch.core.errors import ConfigError
from orch.core.redact import RedactingFilter
from orch.transports.base import CursorStore, Transport, Unreachable
from orch.transports.buttons import ButtonCodes

try:
    from telegram import ForceReply, ForumTopic, LinkPreviewOptions, Message, ReplyParameters, Update, User
    from telegram.constants import ParseMode
    from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
    from telegram.ext import Application, ApplicationBuilder, ContextTypes
    from telegram.warnings import PTBDeprecationWarning
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "transports.telegram needs python-telegram-bot: pip install 'orch-agents[telegram]'"
    ) from exc

from orch.core.stopping import cancel_and_wait
from orch.transports.telegram import commands
from orch.transports.telegram.keyboard import CALLBACK_DATA_LIMIT, inline_keyboard
from orch.transports.telegram.places import Place
from orch.transports.telegram.receive import Receiver
from orch.transports.telegram.render import (
    MAX_MESSAGE_LENGTH,
    render,
    render_caption,
    render_mention,
    rendered_length,
)

log = logging.getLogger("orch.telegram")

INTERVAL = 1.0
GROUP_INTERVAL = 3.0
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_T = TypeVar("_T")
# The loggers whose records carry request or base URLs, hence the token. Named one by one: PTB creates the
# last two only when the bot is built, after the filter is installed.
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")
_TOPIC_NAME_LIMIT = 128
_PUBLIC_API = "https://api.telegram.org"
_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]  # messages, and presses of inline keyboard buttons


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB warns that retry_after will become a timedelta; accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramTransport(Transport):
    """One Telegram bot. Wiring in `orch serve`: TelegramTransport(config.transports.telegram,
    services.cursors, log_filter=...), an outbox for it given to bot_app.attach(transport, outbox), then
    await transport.start(bot_app, outbox)."""

    name = "telegram"
    capabilities = Capabilities(max_message_length=MAX_MESSAGE_LENGTH, can_edit=True)

    def __init__(
        self,
        config: TelegramTransportConfig,
        cursor: CursorStore,
        *,
        poll_timeout: float = 30.0,
        request_timeout: float = 10.0,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        interval: float = INTERVAL,
        group_interval: float = GROUP_INTERVAL,
        stop_grace: float = 30.0,
        log_filter: RedactingFilter | None = None,
    ) -> None:
        if not config.token:
            raise ConfigError("transports.telegram.token: empty (set it, e.g. to ${TELEGRAM_BOT_TOKEN})")
        self._config = config
        self._cursor = cursor
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        self._retry_delays = tuple(retry_delays)
        self._interval = interval
        self._group_interval = group_interval
        self._stop_grace = stop_grace
        self._allowed_chats = frozenset(str(chat) for chat in config.allowed_chat_ids)
        self._allowed_users = frozenset(str(user) for user in config.allowed_user_ids)
        self._log_filter = log_filter or RedactingFilter()
        self._log_filter.add_secret(config.token)
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._codes = ButtonCodes(self.name, CALLBACK_DATA_LIMIT, cursor)
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._cursor_key = ""
        self._offset: int | None = None

    # lifecycle
    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        self._quiet_token_in_logs()
        builder = ApplicationBuilder().token(self._config.token).updater(None).job_queue(None)
        if self._config.base_url:
            builder = builder.base_url(self._config.base_url)
        timeout = self._request_timeout
        app = (builder.connect_timeout(timeout).read_timeout(timeout).write_timeout(timeout).pool_timeout(timeout)
               .get_updates_connect_timeout(timeout).get_updates_read_timeout(timeout)
               .get_updates_write_timeout(timeout).get_updates_pool_timeout(timeout).build())
        receiver = Receiver(self, sink, outbox, self._codes, self._cursor)
        commands.register(app, receiver.on_message, receiver.on_start, receiver.on_press, self._on_error)
        try:
            await app.initialize()
            await app.start()
            self._cursor_key = f"telegram.{app.bot.id}.update_offset"
            stored = await self._cursor.get(self._cursor_key)
            self._offset = int(stored) if stored else None
            # getUpdates is refused while a webhook is set; keep pending updates, they are commands to run.
            await app.bot.delete_webhook(drop_pending_updates=False)
            await app.bot.set_my_commands(commands.menu())
        except BaseException as exc:
            if app.running:
                await app.stop()
            await app.shutdown()
            if isinstance(exc, InvalidToken):
                raise ConfigError("transports.telegram.token: Telegram does not accept this token") from None
            if isinstance(exc, NetworkError):  # no network, a wrong base_url, Telegram failing: try again later
                raise Unreachable(f"cannot reach the Bot API at {self._config.base_url or _PUBLIC_API}: {exc}") \
                    from None
            raise
        self._app = app
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
                await cancel_and_wait(self._poller)
            self._poller = None
        if self._app is not None:
            await self._app.stop()
            await self._app.shutdown()
            self._app = None
        self._log_filter.uninstall(*_URL_LOGGERS)

    def _quiet_token_in_logs(self) -> None:
        httpx_log = logging.getLogger("httpx")
        if httpx_log.getEffectiveLevel() < logging.WARNING:
            httpx_log.setLevel(logging.WARNING)
        # Redact too, for whoever turns these loggers up to debug a connection.
        self._log_filter.install(*_URL_LOGGERS)

    # ChatPort
    def is_allowed(self, chat: ChatRef) -> bool:
        if chat.user_id is not None and chat.user_id in self._allowed_users:
            return True
        try:
            place = Place.parse(chat.chat_id)
        except ValueError:
            return False
        return str(place.chat) in self._allowed_chats  # a forum's topics are its chat's

    def allow_hint(self, chat: ChatRef) -> str:
        return _allow_hint(chat)

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return rendered_length(text, preformatted)

    def min_interval(self, chat_id: str) -> float:
        # Group chat ids are negative (a forum topic's "CHAT:THREAD" too); Telegram allows 20 messages a minute there.
        return self._group_interval if chat_id.startswith("-") else self._interval

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        rendered = _within_limit(render(text, preformatted))
        bot = self._require_app().bot
        place = Place.parse(chat_id)
        keyboard = await inline_keyboard(buttons, self._codes)
        rendered, reply = _addressed(place, rendered, mention)
        message: Message = await self._request(chat_id, lambda: bot.send_message(
            place.chat, rendered, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
            message_thread_id=place.thread, reply_markup=keyboard, reply_parameters=reply))
        return str(message.message_id)

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        rendered = _within_limit(render(text, preformatted))
        bot = self._require_app().bot
        place = Place.parse(chat_id)
        keyboard = await inline_keyboard(buttons, self._codes)  # without it, an edit removes the keyboard

        async def call() -> None:
            try:
                await bot.edit_message_text(rendered, chat_id=place.chat, message_id=int(message_id),
                                            parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
                                            reply_markup=keyboard)
            except BadRequest as exc:
                if "message is not modified" not in exc.message.lower():
                    raise

        await self._request(chat_id, call)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        bot = self._require_app().bot
        place = Place.parse(chat_id)
        message: Message = await self._request(chat_id, lambda: bot.send_document(
            place.chat, data, filename=filename, caption=render_caption(caption) if caption.strip() else None,
            parse_mode=ParseMode.HTML, message_thread_id=place.thread))
        return str(message.message_id)

    # sent at once, for receive.Receiver
    async def open_topic(self, place: Place, name: str) -> Place | None:
        bot = self._require_app().bot
        try:
            topic: ForumTopic = await self._request(str(place), lambda: bot.create_forum_topic(
                place.chat, name[:_TOPIC_NAME_LIMIT]))
        except (RateLimited, Undeliverable, TelegramError) as exc:
            log.info("telegram: no topic in chat %s (%s); the task's output follows where it was asked",
                     place.chat, exc)
            return None
        return Place(place.chat, topic.message_thread_id)

    async def ask_for_text(self, place: Place, command: str, user: User) -> str:
        bot = self._require_app().bot
        # Addressed to the presser by a mention: a selective ForceReply opens the reply box for them alone.
        who = f'<a href="tg://user?id={user.id}">{html.escape(user.first_name, quote=False)}</a>'
        text = f"{who}: your text for {html.escape(command, quote=False)} — reply to this message"
        message: Message = await self._request(str(place), lambda: bot.send_message(
            place.chat, text, parse_mode=ParseMode.HTML, message_thread_id=place.thread,
            reply_markup=ForceReply(selective=True, input_field_placeholder=f"{command} …"[:64])))
        return str(message.message_id)

    async def _request(self, chat_id: str, call: Callable[[], Awaitable[_T]]) -> _T:
        for delay in (*self._retry_delays, None):
            try:
                return await call()
            except RetryAfter as exc:
                raise RateLimited(_retry_seconds(exc)) from None
            except (BadRequest, Forbidden) as exc:  # a malformed request; the bot blocked or out of the chat
                raise Undeliverable(exc.message) from exc
            except NetworkError as exc:  # timeouts, connection errors, 5xx
                if delay is None:
                    # The outbox keeps the message and tries again, backing off, until Telegram answers.
                    raise Unavailable(str(exc)) from exc
                log.warning("telegram: request to chat %s failed (%s); retrying in %.1f s", chat_id, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _require_app(self) -> Application[Any, Any, Any, Any, Any, Any]:
        if self._app is None:
            raise RuntimeError("the telegram transport is not started")
        return self._app

    # receiving (receive.Receiver handles each update)
    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The update still counts as handled: running it again would fail the same way.
        log.error("telegram: handling an update failed", exc_info=context.error)

    async def _poll(self) -> None:
        app = self._require_app()
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await _unless(self._stopping, app.bot.get_updates(
                    offset=self._offset, timeout=self._poll_timeout, allowed_updates=_UPDATES))
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

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _unless(stopping: asyncio.Event, call: Coroutine[Any, Any, _T]) -> _T | None:
    """The call's result, or None once `stopping` is set (the call is then abandoned)."""
    work = asyncio.ensure_future(call)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await work
    return work.result() if not work.cancelled() else None


def _addressed(place: Place, rendered: str, mention: Mention | None) -> tuple[str, ReplyParameters | None]:
    """A notice for a task's creator: a reply to the message they asked with, which is in this chat — unless this
    is the task's forum topic, made after that message: there a mention of them, when it fits the message."""
    if mention is None:
        return rendered, None
    if place.thread is None and mention.message_id is not None:
        return rendered, ReplyParameters(int(mention.message_id), allow_sending_without_reply=True)
    if mention.user_id is not None and mention.user_id.isdigit():
        addressed = f"{render_mention(int(mention.user_id))} {rendered}"
        if utf16_length(addressed) <= MAX_MESSAGE_LENGTH:
            return addressed, None
    return rendered, None


def _allow_hint(chat: ChatRef) -> str:
    try:
        ids = f"chat id {Place.parse(chat.chat_id).chat}"  # a forum topic's chat: the allow-list takes chats
    except ValueError:
        ids = f"chat {chat.chat_id}"
    user = f", user id {chat.user_id}" if chat.user_id is not None else ""
    return (f"{ids}{user}: to allow it, add the chat id to transports.telegram.allowed_chat_ids"
            + (" or the user id to transports.telegram.allowed_user_ids" if user else "")
            + " in orch's config.yml and restart orch serve")


def _within_limit(rendered: str) -> str:
    """The outbox splits text to fit; a longer one here is a bug to report, not a message to send."""
    if (length := utf16_length(rendered)) > MAX_MESSAGE_LENGTH:
        raise ValueError(f"a message of {length} UTF-16 units: over Telegram's {MAX_MESSAGE_LENGTH}")
    return rendered

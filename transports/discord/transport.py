"""The Discord transport: slash commands in, replies and followed task output out (discord.py).

It runs inside `orch serve`'s event loop: login, then the gateway connection as a background task. A task
created with /task new gets a thread made from the reply, and its output is followed there.

Sending. The transport renders (render.py: code blocks, escaping, UTF-16 lengths) and sends one message at a
time; the outbox splits and paces channel messages (one operation a second in a channel). A command's reply is
the one exception: it must answer its interaction (the first part as the interaction's response, the rest as
followups), which goes through the interaction's own webhook and rate limits rather than the channel's, so
it is split here with the same splitter (bot.split) and sent at once.

The token is kept out of the logs by the log filter (core.redact.RedactingFilter, orch serve's, which this
transport hands its token to), installed on discord.py's loggers while the transport runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

from orch.core.errors import ConfigError

try:
    import aiohttp
    import discord
    import yarl
    from discord import app_commands
except ImportError as exc:  # the optional extra is not installed
    raise ConfigError("the discord transport needs discord.py: pip install 'orch-agents[discord]'") from exc

from orch.bot.app import NOT_ALLOWED
from orch.bot.chat import (
    Attachment,
    Button,
    Capabilities,
    ChatRef,
    CommandSink,
    Mention,
    RateLimited,
    Reply,
    Unavailable,
    Undeliverable,
)
from orch.bot.commands import Command
from orch.bot.outbox import Outbox
from orch.bot.split import split_text, utf16_length
from orch.core.config import DiscordTransportConfig
from orch.core.redact import RedactingFilter
from orch.transports.base import Transport
from orch.transports.discord.commands import OrchCommandTree, build_tree
from orch.transports.discord.render import MAX_MESSAGE_LENGTH, fits, render, render_caption, rendered_length

log = logging.getLogger("orch.discord")

T = TypeVar("T")

# Commands whose task gets a thread of its own for its output.
_THREADED = {("task", "new")}
_NO_MENTIONS = discord.AllowedMentions.none()  # output may contain @everyone or <@id>; never ping anyone
# discord.py sleeps through shorter rate limits itself; a longer one is raised so that the outbox decides.
_MAX_RATELIMIT_WAIT = 30.0
_THREAD_NAME_LIMIT = 100
# Under the per-channel limit of five messages in five seconds, edits included.
INTERVAL = 1.0
_LOGGER = "discord"  # discord.py's loggers, whose records may carry the token


class DiscordTransport(Transport):
    """Discord through discord.py: slash commands built from bot/commands/, output in code blocks."""

    name = "discord"
    capabilities = Capabilities(max_message_length=MAX_MESSAGE_LENGTH, can_edit=True)

    def __init__(self, config: DiscordTransportConfig, *, defer_after: float = 2.0,
                 guild_ready_timeout: float = 2.0, ready_timeout: float = 60.0, interval: float = INTERVAL,
                 request_timeout: float = 60.0, log_filter: RedactingFilter | None = None) -> None:
        """`defer_after`: how long a command may run before the interaction is deferred (Discord allows 3 s);
        `interval`: between two sends/edits in one channel; `request_timeout`: how long one of those may take,
        discord.py's own retries of a 5xx included, before the outbox is told Discord is unavailable."""
        if not config.token:
            raise ConfigError("transports.discord.token: empty; set it (e.g. ${DISCORD_BOT_TOKEN})")
        self._config = config
        self._allowed = set(config.allowed_user_ids)
        self._defer_after = defer_after
        self._guild_ready_timeout = guild_ready_timeout
        self._ready_timeout = ready_timeout
        self._interval = interval
        self._request_timeout = request_timeout
        self._sink: CommandSink | None = None
        self._client: discord.Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._log_filter = log_filter or RedactingFilter()
        self._log_filter.add_secret(config.token)

    # lifecycle
    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        """Replies answer their interactions (see the module doc): `outbox` is BotApp's for output alone."""
        self._sink = sink
        self._log_filter.install(_LOGGER)
        if self._config.api_base:
            discord.http.Route.BASE = self._config.api_base.rstrip("/")
        client = discord.Client(intents=discord.Intents.none(), allowed_mentions=_NO_MENTIONS,
                                guild_ready_timeout=self._guild_ready_timeout,
                                max_ratelimit_timeout=_MAX_RATELIMIT_WAIT)
        self._client = client
        tree = build_tree(client, self._on_command, self._check, self._on_error)
        try:
            await self._connect(client, tree)
        except BaseException:
            await client.close()  # its HTTP session and gateway task must not outlive a failed start
            raise

    async def _connect(self, client: discord.Client, tree: OrchCommandTree) -> None:
        try:
            await client.login(self._config.token)
        except discord.LoginFailure:
            raise ConfigError("transports.discord.token: Discord refused this token") from None
        await self._point_gateway(client)
        await self._sync(tree)
        self._runner = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._runner}, timeout=self._ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
        if self._runner in done:
            self._runner.result()  # the gateway gave up (e.g. a bad token): raise why
            raise ConnectionError("the Discord gateway connection ended before it was ready")
        if ready in done:
            log.info("discord: connected as %s", client.user)
        else:
            log.warning("discord: not connected after %.0f s; still trying in the background", self._ready_timeout)

    async def _point_gateway(self, client: discord.Client) -> None:
        if self._config.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._config.gateway_url)
        elif self._config.api_base:
            # A self-hosted API or proxy announces its own gateway; discord.py would otherwise use the public one.
            _, url, _ = await client.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    async def _sync(self, tree: OrchCommandTree) -> None:
        # Guild commands are usable at once; global ones can take up to an hour to appear.
        if not self._config.guild_ids:
            await tree.sync()
            return
        for guild_id in self._config.guild_ids:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._runner
        self._log_filter.uninstall(_LOGGER)

    # ChatPort
    def is_allowed(self, chat: ChatRef) -> bool:
        return chat.user_id is not None and chat.user_id.isdigit() and int(chat.user_id) in self._allowed

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return rendered_length(text, preformatted)

    def min_interval(self, chat_id: str) -> float:
        return self._interval

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        channel = self._connected().get_partial_messageable(int(chat_id))
        content = _within_limit(render(text, preformatted))
        message = await _request(channel.send(content, allowed_mentions=_NO_MENTIONS), self._request_timeout)
        return str(message.id)

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        message = self._connected().get_partial_messageable(int(chat_id)).get_partial_message(int(message_id))
        content = _within_limit(render(text, preformatted))
        await _request(message.edit(content=content, allowed_mentions=_NO_MENTIONS), self._request_timeout)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        channel = self._connected().get_partial_messageable(int(chat_id))
        attachment = discord.File(io.BytesIO(data), filename=filename)
        content = render_caption(caption) if caption.strip() else None
        message = await _request(channel.send(content, file=attachment, allowed_mentions=_NO_MENTIONS),
                                 self._request_timeout)
        return str(message.id)

    def _connected(self) -> discord.Client:
        if self._client is None:
            raise RuntimeError("the discord transport is not started")
        return self._client

    # interactions
    @staticmethod
    def _chat(interaction: discord.Interaction) -> ChatRef:
        return ChatRef("discord", str(interaction.channel_id), str(interaction.user.id))

    async def _check(self, interaction: discord.Interaction) -> bool:
        if self.is_allowed(self._chat(interaction)):
            return True
        log.warning("discord: refused user %s in channel %s", interaction.user.id, interaction.channel_id)
        await interaction.response.send_message(NOT_ALLOWED, ephemeral=True)
        return False

    async def _on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CommandNotFound):
            # A command Discord still shows but this version of orch no longer declares.
            text = f"unknown command /{error.name} — try /help"
        else:
            cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            log.error("discord: interaction %s failed", interaction.id, exc_info=cause)
            text = "internal error: the command failed; see orch.log"
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)

    async def _on_command(self, interaction: discord.Interaction, command: Command[Any],
                          values: dict[str, Any]) -> None:
        if self._sink is None:
            raise RuntimeError("the discord transport is not started")
        sink = self._sink
        args: dict[str, Any] = {}
        for param in command.params:
            value = values.get(param.name)
            if value is None:
                continue
            if param.repeated and isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            args[param.name] = value
        chat = self._chat(interaction)
        replies = await self._in_time(interaction, sink.handle_call(chat, command.path, args))
        threaded = [reply.task_id for reply in replies if reply.task_id is not None and command.path in _THREADED]
        for task_id in threaded:
            # Its output goes to the thread made below, followed from the first line: not also to the channel.
            await sink.unfollow(chat, task_id)
        targets = {task_id: chat for task_id in threaded}
        try:
            delivered = await self._deliver(interaction, replies)
            for reply, message_id in delivered:
                if reply.task_id in targets:
                    thread_id = await self._start_thread(interaction, message_id, reply.text)
                    if thread_id is not None:
                        targets[reply.task_id] = ChatRef("discord", thread_id, chat.user_id)
        finally:
            for task_id, target in targets.items():
                await sink.follow(target, task_id, from_start=True)

    async def _in_time(self, interaction: discord.Interaction, work: Coroutine[Any, Any, list[Reply]]) -> list[Reply]:
        """Run the command; if it is not done by `defer_after`, defer so that Discord's 3 s deadline holds."""
        running = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({running}, timeout=self._defer_after)
        if not done:
            try:
                await interaction.response.defer(thinking=True)
            except discord.HTTPException:
                log.warning("discord: could not defer interaction %s; its answer may not arrive", interaction.id)
        return await running

    async def _deliver(self, interaction: discord.Interaction, replies: list[Reply]) -> list[tuple[Reply, int]]:
        """Send the replies, each in as many messages as it needs; returns each reply's first message id."""
        delivered: list[tuple[Reply, int]] = []
        # A deferred interaction shows "thinking…" until its original response is edited.
        original_pending = interaction.response.is_done()
        for given in replies:
            reply, attachment = _inline(given)
            first: int | None = None
            for piece in split_text(reply.text, fits(reply.preformatted)):
                content = render(piece, reply.preformatted)
                if not interaction.response.is_done():
                    response = await interaction.response.send_message(content, allowed_mentions=_NO_MENTIONS)
                    message_id = response.message_id
                elif original_pending:
                    original_pending = False
                    message_id = (await interaction.edit_original_response(
                        content=content, allowed_mentions=_NO_MENTIONS)).id
                else:
                    message_id = (await interaction.followup.send(
                        content, wait=True, allowed_mentions=_NO_MENTIONS)).id
                if first is None and message_id is not None:
                    first = message_id
            if attachment is not None:
                await interaction.followup.send(
                    render_caption(attachment.caption), wait=True, allowed_mentions=_NO_MENTIONS,
                    file=discord.File(io.BytesIO(attachment.data), filename=attachment.filename))
            if first is not None:
                delivered.append((given, first))
        return delivered

    async def _start_thread(self, interaction: discord.Interaction, message_id: int, title: str) -> str | None:
        if interaction.channel_id is None or interaction.guild_id is None:
            return None  # a direct message: no threads there
        name = title.split("\n", 1)[0][:_THREAD_NAME_LIMIT]
        try:
            thread = await self._connected().http.start_thread_with_message(
                interaction.channel_id, message_id, name=name, auto_archive_duration=1440,
            )
        except discord.HTTPException as exc:
            log.info("discord: no thread in channel %s (%s); output follows there", interaction.channel_id, exc)
            return None
        return str(thread["id"])


def _inline(reply: Reply) -> tuple[Reply, Attachment | None]:
    """A reply whose attachment fits in its own message becomes that message; else the file goes after it."""
    attachment = reply.attachment
    content = attachment.text() if attachment is not None else None
    if attachment is None or content is None:
        return reply, attachment
    whole = f"{reply.text}\n{content.rstrip()}"
    if fits(True)(whole):
        return Reply(whole, preformatted=True, task_id=reply.task_id), None
    return reply, attachment


async def _request(call: Awaitable[T], timeout: float) -> T:
    """Await a REST call, turning Discord's flood control into bot.chat.RateLimited, a refusal for good (no
    access to the channel, an unknown channel or message, a malformed request) into bot.chat.Undeliverable, and
    an outage (5xx after discord.py's own retries, a reset or refused connection, no answer within `timeout`)
    into bot.chat.Unavailable, which the outbox retries until Discord answers again."""
    try:
        return await asyncio.wait_for(call, timeout)
    except TimeoutError as exc:
        raise Unavailable(f"no answer from Discord in {timeout:g} s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
    except discord.DiscordServerError as exc:
        raise Unavailable(str(exc)) from exc
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            # discord.py retried several times already; Retry-After says how long is still left.
            raise RateLimited(float(exc.response.headers.get("Retry-After", 1.0))) from exc
        if 400 <= exc.status < 500:
            raise Undeliverable(str(exc)) from exc
        raise


def _within_limit(content: str) -> str:
    """The outbox splits text to fit; a longer one here is a bug to report, not a message to send."""
    if (length := utf16_length(content)) > MAX_MESSAGE_LENGTH:
        raise ValueError(f"a message of {length} UTF-16 units: over Discord's {MAX_MESSAGE_LENGTH}")
    return content

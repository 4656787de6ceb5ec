"""The Discord transport: slash commands, button presses and thread messages in; replies and followed task
output out (discord.py).

It runs inside `orch serve`'s event loop: login, then the gateway connection as a background task. What people
do is receive.py's: a task created with /task new gets a thread made from the reply, where its output is
followed and where every message is the task's conversation; buttons (components.py) run their commands.

Intents: guild and direct messages, and Message Content — a privileged intent, to be enabled for the bot in
the Developer Portal (Bot → Privileged Gateway Intents) — so that a message in a task's thread can be read as a
follow-up. When Discord refuses it, the transport connects without it and says so in the log: everything but
follow-ups by message still works.

Sending. The transport renders (render.py: code blocks, escaping, UTF-16 lengths; components.py: buttons, kept
on every edit) and sends one message at a time; the outbox splits and paces channel messages (one operation a
second in a channel). A notice for a task's creator mentions them, and only them. Answers to interactions are
the one exception: they go through the interaction's own webhook and rate limits (answers.py).

The token is kept out of the logs by the log filter (core.redact.RedactingFilter, orch serve's, which this
transport hands its token to), installed on discord.py's loggers while the transport runs.

Discord that cannot be reached at start (no network, a wrong api_base, its servers failing) makes start() raise
transports.base.Unreachable; orch serve starts it again later (transports.reconnect). A refused token is a
ConfigError.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from orch.core.errors import ConfigError

try:
    import aiohttp
    import discord
    import yarl
except ImportError as exc:  # the optional extra is not installed
    raise ConfigError("the discord transport needs discord.py: pip install 'orch-agents[discord]'") from exc

from orch.bot.chat import Button, Capabilities, ChatRef, CommandSink, Mention, RateLimited, Unavailable, Undeliverable
from orch.bot.outbox import Outbox
from orch.bot.split import utf16_length
from orch.core.config import DiscordTransportConfig
from orch.core.redact import RedactingFilter
from orch.transports.base import CursorStore, Transport, Unreachable
from orch.transports.buttons import ButtonCodes
from orch.transports.discord.answers import NO_MENTIONS
from orch.transports.discord.commands import OrchCommandTree, build_tree
from orch.transports.discord.components import CUSTOM_ID_LIMIT, view
from orch.transports.discord.receive import Receiver
from orch.transports.discord.render import MAX_MESSAGE_LENGTH, render, render_caption, rendered_length

log = logging.getLogger("orch.discord")

T = TypeVar("T")

# discord.py sleeps through shorter rate limits itself; a longer one is raised so that the outbox decides.
_MAX_RATELIMIT_WAIT = 30.0
# Under the per-channel limit of five messages in five seconds, edits included.
INTERVAL = 1.0
_LOGGER = "discord"  # discord.py's loggers, whose records may carry the token


def intents(*, message_content: bool) -> discord.Intents:
    """Messages in guilds and direct messages, and (when allowed) their content: what follow-ups need."""
    wanted = discord.Intents.none()
    wanted.guild_messages = wanted.dm_messages = True
    wanted.message_content = message_content
    return wanted


class _Client(discord.Client):
    """discord.py's client, its message and interaction events handed to the receiver."""

    receiver: Receiver | None = None

    async def on_message(self, message: discord.Message) -> None:
        if self.receiver is not None:
            await self.receiver.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if self.receiver is not None:
            await self.receiver.on_interaction(interaction)


class DiscordTransport(Transport):
    """Discord through discord.py: slash commands built from bot/commands/, output in code blocks."""

    name = "discord"
    capabilities = Capabilities(max_message_length=MAX_MESSAGE_LENGTH, can_edit=True)

    def __init__(self, config: DiscordTransportConfig, *, cursor: CursorStore | None = None, defer_after: float = 2.0,
                 guild_ready_timeout: float = 2.0, ready_timeout: float = 60.0, interval: float = INTERVAL,
                 request_timeout: float = 60.0, log_filter: RedactingFilter | None = None) -> None:
        """`cursor`: where codes of buttons whose command is too long for a custom_id are kept (in memory when
        None); `defer_after`: how long a command may run before the interaction is deferred (Discord allows 3 s);
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
        self._codes = ButtonCodes(self.name, CUSTOM_ID_LIMIT, cursor)
        self._request_timeout = request_timeout
        self._client: discord.Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._log_filter = log_filter or RedactingFilter()
        self._log_filter.add_secret(config.token)

    # lifecycle
    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        """Replies to interactions answer them (answers.py); `outbox` carries output, notices and the replies to
        plain messages."""
        self._log_filter.install(_LOGGER)
        if self._config.api_base:
            discord.http.Route.BASE = self._config.api_base.rstrip("/")
        try:
            await self._start(sink, outbox, message_content=True)
        except (aiohttp.ClientError, OSError, discord.DiscordServerError, discord.GatewayNotFound) as exc:
            # No network, a wrong api_base, Discord failing: orch serve runs on and tries again later.
            raise Unreachable(f"cannot reach Discord at {self._config.api_base or discord.http.Route.BASE}: "
                              f"{exc or type(exc).__name__}") from None
        except discord.PrivilegedIntentsRequired:
            log.warning("discord: this bot may not read message content (enable the Message Content intent in the "
                        "Developer Portal): messages in a task's thread are not follow-ups; /task reply still is")
            await self._start(sink, outbox, message_content=False)

    async def _start(self, sink: CommandSink, outbox: Outbox, *, message_content: bool) -> None:
        client = _Client(intents=intents(message_content=message_content), allowed_mentions=NO_MENTIONS,
                         guild_ready_timeout=self._guild_ready_timeout, max_ratelimit_timeout=_MAX_RATELIMIT_WAIT)
        receiver = Receiver(client, sink, outbox, self._codes, self.is_allowed, self._defer_after,
                            self._request_timeout, self.allow_hint)
        client.receiver = receiver
        self._client = client
        tree = build_tree(client, receiver.on_command, receiver.check, receiver.on_error)
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

    def allow_hint(self, chat: ChatRef) -> str:
        return (f"user id {chat.user_id}, channel id {chat.chat_id}: to allow the user, add the user id to "
                "transports.discord.allowed_user_ids in orch's config.yml and restart orch serve")

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return rendered_length(text, preformatted)

    def min_interval(self, chat_id: str) -> float:
        return self._interval

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        channel = self._connected().get_partial_messageable(int(chat_id))
        content = _within_limit(render(text, preformatted))
        allowed = NO_MENTIONS
        if mention is not None and mention.user_id is not None and mention.user_id.isdigit():
            # The person a notice is for is pinged, and nobody else whatever the text says.
            allowed = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                              users=[discord.Object(int(mention.user_id))])
            ping = f"<@{mention.user_id}>"
            if utf16_length(content) + len(ping) + 1 <= MAX_MESSAGE_LENGTH:
                content = f"{ping} {content}"
            else:  # a notice as long as a whole message: the ping goes just before it
                await _request(channel.send(ping, allowed_mentions=allowed), self._request_timeout)
        shown = await view(buttons, self._codes)
        message = await _request(channel.send(content, allowed_mentions=allowed,
                                              view=shown if shown is not None else discord.utils.MISSING),
                                 self._request_timeout)
        return str(message.id)

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        message = self._connected().get_partial_messageable(int(chat_id)).get_partial_message(int(message_id))
        content = _within_limit(render(text, preformatted))
        # No buttons given: the message's are removed.
        await _request(message.edit(content=content, allowed_mentions=NO_MENTIONS,
                                    view=await view(buttons, self._codes)), self._request_timeout)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        channel = self._connected().get_partial_messageable(int(chat_id))
        attachment = discord.File(io.BytesIO(data), filename=filename)
        content = render_caption(caption) if caption.strip() else None
        message = await _request(channel.send(content, file=attachment, allowed_mentions=NO_MENTIONS),
                                 self._request_timeout)
        return str(message.id)

    def _connected(self) -> discord.Client:
        if self._client is None:
            raise RuntimeError("the discord transport is not started")
        return self._client


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

"""What the Discord transport does with what people do: slash commands, button presses and their modals, and
plain messages.

- A slash command runs by its user, after the allow-list check in front of the command tree (a stranger gets an
  ephemeral refusal). `/task new` in a guild channel makes a thread from its reply: the task's output, status
  lines and questions go there, and it is the task's own (BotApp.task_thread).
- A button press runs its command as if its presser had typed it, allow-list and all; the replies answer the
  press. A button that needs text (Reply, Answer) opens a modal instead; its submission runs `COMMAND TEXT`.
  A stranger's press is refused ephemerally and runs nothing.
- A plain message in a task's thread, or replying to one of a task's messages, is a follow-up for the task
  (BotApp.handle_message, by its author); its replies go through the outbox. Other messages are left alone; a
  stranger's follow-up gets one refusal per channel an hour (bot.refusals). Reading messages needs the Message
  Content intent (transport.py asks for it).
A refusal names the user's and channel's ids and the config key to add the user to.
Every message answering an interaction about a task is remembered as the task's (CommandSink.sent_about).
An interaction that cannot be answered (Discord down, or too late) has its replies sent to the channel through
the outbox instead, which retries through an outage; the refusals only an asker would see are logged instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import discord
from discord import app_commands
from orch.bot.chat import ChatRef, CommandSink, Reply
from orch.bot.commands import Command
from orch.bot.outbox import Outbox
from orch.bot.refusals import RefusalPacer, refusal_text
from orch.bot.threads import THREADED
from orch.transports.buttons import ButtonCodes
from orch.transports.discord.answers import UNANSWERABLE, deliver, in_time, refuse
from orch.transports.discord.components import submitted_text, text_modal

log = logging.getLogger("orch.discord")

NAME = "discord"
EXPIRED = "this button has expired: use its command instead"
_THREAD_NAME_LIMIT = 100


class Receiver:
    def __init__(self, client: discord.Client, sink: CommandSink, outbox: Outbox, codes: ButtonCodes,
                 is_allowed: Callable[[ChatRef], bool], defer_after: float, request_timeout: float,
                 allow_hint: Callable[[ChatRef], str] = lambda chat: "") -> None:
        self._client = client
        self._request_timeout = request_timeout
        self._sink = sink
        self._outbox = outbox
        self._codes = codes
        self._is_allowed = is_allowed
        self._allow_hint = allow_hint
        self._defer_after = defer_after
        self._refusals = RefusalPacer()

    @staticmethod
    def chat(interaction: discord.Interaction) -> ChatRef:
        return ChatRef(NAME, str(interaction.channel_id), str(interaction.user.id))

    # slash commands (commands.build_tree)
    async def check(self, interaction: discord.Interaction) -> bool:
        if self._is_allowed(self.chat(interaction)):
            return True
        log.warning("discord: refused user %s in channel %s", interaction.user.id, interaction.channel_id)
        # Ephemeral, so only the asker sees it: answered every time (Discord shows a failure otherwise).
        await interaction.response.send_message(refusal_text(self._allow_hint(self.chat(interaction))),
                                                ephemeral=True)
        return False

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CommandNotFound):
            # A command Discord still shows but this version of orch no longer declares.
            text = f"unknown command /{error.name} — try /help"
        else:
            cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            log.error("discord: interaction %s failed", interaction.id, exc_info=cause)
            text = "internal error: the command failed; see orch.log"
        with contextlib.suppress(*UNANSWERABLE):
            await refuse(interaction, text)

    async def on_command(self, interaction: discord.Interaction, command: Command[Any],
                         values: dict[str, Any]) -> None:
        args: dict[str, Any] = {}
        for param in command.params:
            value = values.get(param.name)
            if value is None:
                continue
            if param.repeated and isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            args[param.name] = value
        chat = self.chat(interaction)
        replies = await in_time(interaction, self._sink.handle_call(chat, command.path, args), self._defer_after)
        threaded = [reply.task_id for reply in replies if reply.task_id is not None and command.path in THREADED]
        for task_id in threaded:
            # Its output goes to the thread made below, followed from the first line: not also to the channel.
            await self._sink.unfollow(chat, task_id)
        threads: dict[int, ChatRef] = {}
        try:
            for reply, message_ids in await self._answered(interaction, chat, replies):
                if reply.task_id in threaded and reply.task_id not in threads and message_ids:
                    thread_id = await self._start_thread(interaction, message_ids[0], reply.text)
                    if thread_id is not None:
                        threads[reply.task_id] = ChatRef(NAME, thread_id, chat.user_id)
        finally:
            for task_id in threaded:
                if task_id in threads:
                    await self._sink.task_thread(threads[task_id], task_id)
                else:
                    await self._sink.follow(chat, task_id, from_start=True)

    # presses and modals
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
            return  # slash commands are the command tree's
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        pressed = await self._codes.pressed(custom_id)
        if pressed is None:
            await refuse(interaction, EXPIRED)
            return
        chat = self.chat(interaction)
        if interaction.type is discord.InteractionType.modal_submit:
            await self._run(interaction, chat, f"{pressed.command} {submitted_text(data)}")
        elif pressed.needs_text and self._is_allowed(chat):
            await interaction.response.send_modal(text_modal(pressed.command, custom_id))
        else:
            await self._run(interaction, chat, pressed.command)

    async def _run(self, interaction: discord.Interaction, chat: ChatRef, text: str) -> None:
        """Run `text` as typed by whoever interacted; the replies answer the interaction (ephemerally when
        refused)."""
        replies = await in_time(interaction, self._sink.handle_text(chat, text), self._defer_after)
        if not self._is_allowed(chat):
            try:
                await refuse(interaction, "\n".join(reply.text for reply in replies))
            except UNANSWERABLE as exc:
                log.warning("discord: could not refuse interaction %s (%s)", interaction.id, _describe(exc))
            return
        await self._answered(interaction, chat, replies)

    async def _answered(self, interaction: discord.Interaction, chat: ChatRef,
                        replies: list[Reply]) -> list[tuple[Reply, list[int]]]:
        delivered: list[tuple[Reply, list[int]]] = []
        try:
            await asyncio.wait_for(deliver(interaction, replies, self._codes, delivered), self._request_timeout)
        except UNANSWERABLE as exc:
            # The command ran; its answer must not be lost with the interaction. The outbox reports what it
            # sends about a task itself.
            rest = replies[len(delivered):]
            log.warning("discord: could not answer interaction %s (%s); %d replies go to channel %s instead",
                        interaction.id, _describe(exc), len(rest), chat.chat_id)
            for reply in rest:
                await self._outbox.reply(chat.chat_id, reply)
        for reply, message_ids in delivered:
            if reply.task_id is not None:
                for message_id in message_ids:
                    await self._sink.sent_about(chat, str(message_id), reply.task_id)
        return delivered

    # plain messages
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not message.content.strip():
            return
        chat = ChatRef(NAME, str(message.channel.id), str(message.author.id), str(message.id))
        reference = message.reference
        reply_to = str(reference.message_id) if reference is not None and reference.message_id else None
        replies = await self._sink.handle_message(chat, message.content, reply_to=reply_to)
        if replies is None:
            return
        if not self._is_allowed(chat) and not self._refusals.may_refuse(chat.chat_id):
            return
        for reply in replies:
            await self._outbox.reply(chat.chat_id, reply)

    async def _start_thread(self, interaction: discord.Interaction, message_id: int, title: str) -> str | None:
        if interaction.channel_id is None or interaction.guild_id is None:
            return None  # a direct message: no threads there
        name = title.split("\n", 1)[0][:_THREAD_NAME_LIMIT]
        try:
            thread = await self._client.http.start_thread_with_message(
                interaction.channel_id, message_id, name=name, auto_archive_duration=1440,
            )
        except discord.HTTPException as exc:
            log.info("discord: no thread in channel %s (%s); output follows there", interaction.channel_id, exc)
            return None
        return str(thread["id"])


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__  # a timeout has no message

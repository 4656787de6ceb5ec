"""Answering an interaction — a slash command, a button press, a modal — with the replies the bot gave.

The first part answers the interaction, the rest are its followups: they go through the interaction's own
webhook and rate limits rather than the channel's, so they are split here with the outbox's splitter
(bot.split) and sent at once. An interaction must be answered within three seconds: one whose command takes
longer is deferred ("thinking…") and its answer edits that.

When Discord cannot be reached to answer (an outage, or the interaction's window passed meanwhile), the receiver
sends the replies not yet delivered through the channel's outbox instead, which retries until Discord answers.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
import discord
from orch.bot.chat import Attachment, Reply
from orch.bot.split import split_text
from orch.transports.buttons import ButtonCodes
from orch.transports.discord.components import view
from orch.transports.discord.render import fits, render, render_caption

log = logging.getLogger("orch.discord")

NO_MENTIONS = discord.AllowedMentions.none()  # output may contain @everyone or <@id>; never ping anyone
# What answering an interaction meets when Discord is down or the interaction can no longer be answered.
UNANSWERABLE = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)


async def in_time(interaction: discord.Interaction, work: Coroutine[Any, Any, list[Reply]],
                  defer_after: float) -> list[Reply]:
    """Run the command; if it is not done by `defer_after`, defer so that Discord's 3 s deadline holds."""
    running = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({running}, timeout=defer_after)
    if not done:
        try:
            await interaction.response.defer(thinking=True)
        except UNANSWERABLE:
            log.warning("discord: could not defer interaction %s; its answer may not arrive", interaction.id)
    return await running


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """An answer only its asker sees (a refusal, an expired button)."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def deliver(interaction: discord.Interaction, replies: list[Reply], codes: ButtonCodes,
                  delivered: list[tuple[Reply, list[int]]]) -> None:
    """Send the replies, each in as many messages as it needs (its buttons under the last); each reply sent is
    added to `delivered` with the ids of its messages, so a caller whose sending fails knows what is left."""
    # A deferred interaction shows "thinking…" until its original response is edited.
    original_pending = interaction.response.is_done()
    for given in replies:
        reply, attachment = _inline(given)
        pieces = split_text(reply.text, fits(reply.preformatted))
        ids: list[int] = []
        for number, piece in enumerate(pieces, start=1):
            content = render(piece, reply.preformatted)
            shown = await view(reply.buttons, codes) if number == len(pieces) else None
            buttons = shown if shown is not None else discord.utils.MISSING
            message_id: int | None
            if not interaction.response.is_done():
                response = await interaction.response.send_message(content, allowed_mentions=NO_MENTIONS,
                                                                   view=buttons)
                message_id = response.message_id
            elif original_pending:
                original_pending = False
                message_id = (await interaction.edit_original_response(
                    content=content, allowed_mentions=NO_MENTIONS, view=buttons)).id
            else:
                message_id = (await interaction.followup.send(
                    content, wait=True, allowed_mentions=NO_MENTIONS, view=buttons)).id
            if message_id is not None:
                ids.append(message_id)
        if attachment is not None:
            sent = await interaction.followup.send(
                render_caption(attachment.caption), wait=True, allowed_mentions=NO_MENTIONS,
                file=discord.File(io.BytesIO(attachment.data), filename=attachment.filename))
            ids.append(sent.id)
        delivered.append((given, ids))


def _inline(reply: Reply) -> tuple[Reply, Attachment | None]:
    """A reply whose attachment fits in its own message becomes that message; else the file goes after it."""
    attachment = reply.attachment
    content = attachment.text() if attachment is not None else None
    if attachment is None or content is None:
        return reply, attachment
    whole = f"{reply.text}\n{content.rstrip()}"
    if fits(True)(whole):
        return Reply(whole, preformatted=True, task_id=reply.task_id, buttons=reply.buttons), None
    return reply, attachment

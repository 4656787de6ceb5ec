"""Outboxes: the one way text reaches one transport's chats — followed output, notices, command replies, files.

An outbox owns splitting and pacing, so a reply and streamed output never race for a chat's flood budget.
LineOutbox serves transports without message limits (the terminal): everything goes out at once, output as
`[N] line`. Chat services with limits get MessageOutbox (bot/message_outbox.py).

An outbox reports each message it sent about a task (its output, a notice or reply about it, a file) to the
listener given with `report_sent`: BotApp remembers them, so that a reply to one of them is a follow-up.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

from orch.bot.chat import Button, ChatPort, Mention, Reply

log = logging.getLogger("orch.outbox")

# Told of each message sent about a task: chat id, message id, task id.
SentListener = Callable[[str, str, int], Awaitable[None]]


def with_commands(text: str, buttons: Sequence[Button]) -> str:
    """Where there are no buttons to press: the commands they run, on a line after the text."""
    if not buttons:
        return text
    listed = " · ".join(f"{b.label}: {b.command}" + (" TEXT" if b.needs_text else "") for b in buttons)
    return f"{text}\n  ▸ {listed}"


class Outbox(ABC):
    _sent_listener: SentListener | None = None

    def report_sent(self, listener: SentListener) -> None:
        """Tell `listener` of every message sent about a task from now on."""
        self._sent_listener = listener

    async def _report_sent(self, chat_id: str, message_id: str, task_id: int | None) -> None:
        """The message was delivered whatever the listener does: its failure is logged, never retried."""
        if task_id is None or self._sent_listener is None or not message_id:
            return
        try:
            await self._sent_listener(chat_id, message_id, task_id)
        except Exception:
            log.exception("could not remember message %s in chat %s as task %s's", message_id, chat_id, task_id)

    @abstractmethod
    async def output(self, chat_id: str, task_id: int, lines: Sequence[str], buttons: Sequence[Button] = ()) -> None:
        """Queue lines of a task's output for a chat (the message they land in carries `buttons`: Stop while
        it runs); returns once they are accepted (not necessarily sent)."""

    @abstractmethod
    async def notice(self, chat_id: str, text: str, *, task_id: int | None = None, buttons: Sequence[Button] = (),
                     mention: Mention | None = None) -> None:
        """Queue a plain message about task `task_id`, delivered after every output line queued before it; with
        buttons under it, addressed to `mention` (the person who asked for the task) when given."""

    async def reply(self, chat_id: str, reply: Reply) -> None:
        """Deliver a command's reply ahead of queued output and notices (a person is waiting for it); returns
        once it is sent, or given up on (which is logged). An attachment whose text fits in the same message
        goes there; otherwise it follows as a file."""
        attachment = reply.attachment
        if attachment is None:
            await self.send_reply(chat_id, reply)
            return
        content = attachment.text()
        whole = f"{reply.text}\n{content.rstrip()}" if content is not None else None
        if whole is not None and self.fits_one(whole, preformatted=True):
            await self.send_reply(chat_id, Reply(whole, preformatted=True, task_id=reply.task_id,
                                                 buttons=reply.buttons))
            return
        await self.send_reply(chat_id, reply)
        await self.send_file(chat_id, attachment.filename, attachment.data, attachment.caption, task_id=reply.task_id)

    @abstractmethod
    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """The text of a reply, ahead of queued output (see `reply`)."""

    @abstractmethod
    def fits_one(self, text: str, *, preformatted: bool) -> bool:
        """Whether `text` fits in one message of this transport."""

    @abstractmethod
    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str, *,
                        task_id: int | None = None) -> None:
        """Deliver a file (about task `task_id`) with a one-line caption, queued and returning like a reply."""

    async def flush(self) -> None:
        """Wait until everything queued has been delivered."""

    async def close(self) -> None:
        """Deliver what is queued, then stop."""


class LineOutbox(Outbox):
    """A terminal's outbox: lines go out as they come; buttons are listed as the commands they would run."""

    def __init__(self, port: ChatPort) -> None:
        self._port = port

    async def output(self, chat_id: str, task_id: int, lines: Sequence[str], buttons: Sequence[Button] = ()) -> None:
        if lines:
            await self._port.send(chat_id, "\n".join(f"[{task_id}] {line}" for line in lines))

    async def notice(self, chat_id: str, text: str, *, task_id: int | None = None, buttons: Sequence[Button] = (),
                     mention: Mention | None = None) -> None:
        await self._port.send(chat_id, with_commands(text, buttons))

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        await self._port.send(chat_id, with_commands(reply.text, reply.buttons), preformatted=reply.preformatted)

    def fits_one(self, text: str, *, preformatted: bool) -> bool:
        return True  # a terminal has no message limit: a patch is printed where it is

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str, *,
                        task_id: int | None = None) -> None:
        await self._port.send_file(chat_id, filename, data, caption)

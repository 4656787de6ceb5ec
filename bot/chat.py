"""What the bot needs from a chat transport, and what it hands back.

Transports implement ChatPort (transports/base.py's Transport ABC does); bot/ never imports a transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatRef:
    """Where a command came from and where replies and followed output go."""

    transport: str
    chat_id: str
    user_id: str | None = None
    message_id: str | None = None  # the message that carried the command, where the service has one


@dataclass(frozen=True)
class Button:
    """A button under a message: a press runs `command` as if its presser had typed it (allow-list and all).
    `needs_text`: the command takes the presser's next message as its last argument (a follow-up's text);
    a transport asks them for it."""

    label: str
    command: str
    needs_text: bool = False


@dataclass(frozen=True)
class Mention:
    """Who a notice is for: the person who asked for the task (Telegram replies to their message, Discord
    mentions them)."""

    user_id: str | None
    message_id: str | None = None


@dataclass(frozen=True)
class Capabilities:
    max_message_length: int  # of the rendered text, in the transport's own unit (see ChatPort.rendered_length)
    can_edit: bool


@dataclass(frozen=True)
class Attachment:
    """A file that goes with a reply (a task's patch). Text that fits in the reply's message is shown there
    instead; a transport that cannot send files shows it inline whatever its length."""

    filename: str
    data: bytes
    caption: str

    def text(self) -> str | None:
        """The content as text, when it is text."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class Reply:
    text: str
    preformatted: bool = False
    task_id: int | None = None  # the task this reply is about (e.g. the one just created)
    attachment: Attachment | None = None
    buttons: tuple[Button, ...] = ()


class RateLimited(Exception):
    """A transport was told to slow down; the caller waits `retry_after` seconds and tries again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after} s")
        self.retry_after = retry_after


class Unavailable(Exception):
    """The service could not be reached or failed on its side (a timeout, a reset connection, a 5xx): nothing says
    the message itself is wrong, so the outbox keeps it and tries again, backing off, for as long as it takes."""


class Undeliverable(Exception):
    """The service refused a message for good (the bot was blocked or removed, the chat is gone, the request is
    malformed): trying again cannot help, so the outbox drops it at once instead of retrying."""


class ChatPort(Protocol):
    """One chat service as the outboxes see it: it renders, measures and sends; the outbox splits and paces."""

    name: str
    capabilities: Capabilities

    def is_allowed(self, chat: ChatRef) -> bool: ...

    def allow_hint(self, chat: ChatRef) -> str:
        """For a refused chat: its ids and the config keys that would allow them ("" where nobody is refused)."""
        ...

    def rendered_length(self, text: str, preformatted: bool) -> int:
        """Length of `text` once escaped and wrapped for this transport, in its own unit."""
        ...

    def min_interval(self, chat_id: str) -> float:
        """Seconds between two sends/edits in this chat that stay under the service's flood limits."""
        ...

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False, buttons: Sequence[Button] = (),
                   mention: Mention | None = None) -> str:
        """Send one message (a text that fits it: the outbox splits), with `buttons` under it and addressed to
        `mention`; returns its id. Raises RateLimited on a flood-control answer, Unavailable when the service
        cannot be reached or fails on its side, Undeliverable on a refusal for good."""
        ...

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        """Replace a message's text (and its buttons). Raises RateLimited, Unavailable and Undeliverable like
        send."""
        ...

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        """Send `data` as a file named `filename` with a one-line caption; returns the message id. Raises
        RateLimited, Unavailable and Undeliverable like send."""
        ...


class CommandSink(Protocol):
    """What a transport calls when a person types a command; it returns the replies to deliver (through the
    transport's outbox, bot.outbox.Outbox.reply)."""

    async def handle_text(self, chat: ChatRef, text: str) -> list[Reply]: ...

    async def handle_call(self, chat: ChatRef, path: tuple[str, ...], args: dict[str, Any]) -> list[Reply]: ...

    async def follow(self, chat: ChatRef, task_id: int, *, from_start: bool = False) -> None:
        """Send the task's output (from its first line if `from_start`) to `chat` too, e.g. a new thread."""
        ...

    async def unfollow(self, chat: ChatRef, task_id: int) -> bool:
        """Stop sending the task's output to `chat`; False if it was not following."""
        ...

    async def handle_message(self, chat: ChatRef, text: str, *, reply_to: str | None = None) -> list[Reply] | None:
        """A plain message (not a command), sent as a reply to message `reply_to` or not: a follow-up for the task
        that message is about, or for the task whose own thread `chat` is. None when it is about no task."""
        ...

    async def task_thread(self, chat: ChatRef, task_id: int) -> None:
        """`chat` was made for the task (a Discord thread, a Telegram forum topic): its output goes there from its
        first line, and what is written there is the task's conversation."""
        ...

    async def sent_about(self, chat: ChatRef, message_id: str, task_id: int) -> None:
        """A message about the task was sent outside the outbox (Discord's answers to interactions): a reply to
        it is a follow-up too."""
        ...

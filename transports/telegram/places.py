"""Where a Telegram message goes: a chat, or one topic of a forum supergroup.

orch carries a place as one ChatRef chat_id, so that follows, notify levels and remembered messages work
unchanged: a chat's id as Telegram gives it ("-1001234567890"), or for a forum topic the chat's id and the
topic's message_thread_id joined by a colon ("-1001234567890:42"). What belongs to the chat — its allow-list
entry, its pace — is the same in each of its topics. Messages outside topics (a forum's General, a reply
thread in an ordinary group) are the chat's.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import MaybeInaccessibleMessage, Message

_SEPARATOR = ":"


@dataclass(frozen=True)
class Place:
    chat: int
    thread: int | None = None  # the forum topic's message_thread_id

    @classmethod
    def parse(cls, chat_id: str) -> Place:
        """The place a chat_id names; ValueError when it names none."""
        chat, separator, thread = chat_id.partition(_SEPARATOR)
        return cls(int(chat), int(thread) if separator else None)

    @classmethod
    def of(cls, message: MaybeInaccessibleMessage) -> Place:
        """Where `message` is (an inaccessible one — too old — is placed in its chat)."""
        if isinstance(message, Message) and message.is_topic_message and message.message_thread_id is not None:
            return cls(message.chat_id, message.message_thread_id)
        return cls(message.chat.id)

    def __str__(self) -> str:
        return str(self.chat) if self.thread is None else f"{self.chat}{_SEPARATOR}{self.thread}"

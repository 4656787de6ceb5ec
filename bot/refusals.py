"""What a chat off the allow-list is told, and how often.

The refusal carries the chat's and the user's ids and the config key that would allow them (the transport says
which: ChatPort.allow_hint): the owner of a new bot finds their ids by messaging it. A stranger cannot make the
bot spam a chat with it: RefusalPacer lets one refusal through per chat per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable

NOT_ALLOWED = "not allowed: this chat is not on orch's allow-list"
REFUSAL_INTERVAL = 3600.0  # seconds between two refusals in one chat
_REMEMBERED = 10_000  # chats remembered at most; older ones are forgotten first


def refusal_text(hint: str) -> str:
    """The one reply to a refused chat: NOT_ALLOWED, then the transport's hint (its ids, the key to add them to)."""
    return f"{NOT_ALLOWED}\n{hint}" if hint else NOT_ALLOWED


class RefusalPacer:
    """One refusal per chat per `interval` seconds."""

    def __init__(self, interval: float = REFUSAL_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def may_refuse(self, chat_id: str) -> bool:
        """Whether `chat_id` may be answered with a refusal now (then it is not again for `interval`)."""
        now = self._clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self._interval:
            return False
        self._last.pop(chat_id, None)
        self._last[chat_id] = now  # insertion order: oldest first
        if len(self._last) > _REMEMBERED:
            del self._last[next(iter(self._last))]
        return True

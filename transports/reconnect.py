"""A chat transport whose service cannot be reached when `orch serve` starts (no network yet, a wrong
`base_url`, the service down): serve says so in one line and runs on — the terminal and the other transports
work — while this one tries again with a growing backoff, and says on the terminal when it is up.

Until then its chats cannot be written to: sends raise bot.chat.Unavailable, which the outbox keeps and retries,
as in any outage. A refusal that is the config's fault (a token the service refuses) ends the retries, logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from orch.bot.chat import Button, ChatRef, CommandSink, Mention, Unavailable
from orch.bot.outbox import Outbox
from orch.core.errors import ConfigError
from orch.core.ops.logs import CONSOLE
from orch.core.stopping import cancel_and_wait
from orch.transports.base import Transport, Unreachable

log = logging.getLogger("orch.serve")

BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # seconds before each new try; the last repeats


class Reconnecting(Transport):
    """`inner`, started again in the background for as long as its service is unreachable."""

    def __init__(self, inner: Transport, backoff: Sequence[float] = BACKOFF) -> None:
        self.name = inner.name
        self.capabilities = inner.capabilities
        self._inner = inner
        self._backoff = tuple(backoff)
        self._up = False
        self._retrying: asyncio.Task[None] | None = None

    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        try:
            await self._inner.start(sink, outbox)
        except Unreachable as exc:
            log.warning("%s: %s; orch serve runs on and tries again (every %g s at most)", self.name, exc,
                        self._backoff[-1])
            self._retrying = asyncio.create_task(self._retry(sink, outbox), name=f"{self.name}-reconnect")
            return
        self._up = True

    async def _retry(self, sink: CommandSink, outbox: Outbox) -> None:
        tries = 1
        while True:
            await asyncio.sleep(self._backoff[min(tries - 1, len(self._backoff) - 1)])
            tries += 1
            try:
                await self._inner.start(sink, outbox)
            except Unreachable as exc:
                log.info("%s: still unreachable (try %d): %s", self.name, tries, exc)
                continue
            except ConfigError as exc:
                log.error("%s: %s; it stays off until orch serve is restarted", self.name, exc)
                return
            except Exception:  # a bug or a surprise of the library: keep trying, with the trace in the log
                log.exception("%s: starting failed (try %d)", self.name, tries)
                continue
            self._up = True
            log.info("%s: reachable now, after %d tries: connected", self.name, tries, extra=CONSOLE)
            return

    async def stop(self) -> None:
        await cancel_and_wait(self._retrying)
        self._retrying = None
        if self._up:
            self._up = False
            await self._inner.stop()

    # ChatPort: the allow-list and measures are the inner transport's; sending needs it up.
    def is_allowed(self, chat: ChatRef) -> bool:
        return self._inner.is_allowed(chat)

    def allow_hint(self, chat: ChatRef) -> str:
        return self._inner.allow_hint(chat)

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return self._inner.rendered_length(text, preformatted)

    def min_interval(self, chat_id: str) -> float:
        return self._inner.min_interval(chat_id)

    def _require_up(self) -> None:
        if not self._up:
            raise Unavailable(f"{self.name} is not connected yet")

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        self._require_up()
        return await self._inner.send(chat_id, text, preformatted=preformatted, buttons=buttons, mention=mention)

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        self._require_up()
        await self._inner.edit(chat_id, message_id, text, preformatted=preformatted, buttons=buttons)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        self._require_up()
        return await self._inner.send_file(chat_id, filename, data, caption)

"""An outage of a fake service: for a while, every request meets a 500, a timeout or a reset connection, in turn.

- "500": an Internal Server Error answer.
- "timeout": no answer until the client has given up (`hang_seconds`, longer than its request timeout), then a
  504 that nobody reads; the request takes no effect.
- "reset": the connection is reset (a TCP RST, as a crashed proxy or a dropped NAT entry sends), no answer.

The fakes (telegram_api, discord_api) ask `meet(request)` first thing for each request and answer as told.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

KINDS = ("500", "timeout", "reset")


@dataclass
class Outage:
    until: float = 0.0  # time.monotonic() when it ends
    hang_seconds: float = 5.0
    kinds: tuple[str, ...] = KINDS
    met: list[str] = field(default_factory=list)  # the fault each request met, in order
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def begin(self, seconds: float, *, hang_seconds: float, kinds: tuple[str, ...] = KINDS) -> None:
        self.until = time.monotonic() + seconds
        self.hang_seconds = hang_seconds
        self.kinds = kinds

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until

    async def meet(self, request: web.Request,
                   error: Callable[[int], web.StreamResponse]) -> web.StreamResponse | None:
        """The answer to `request` while the outage lasts (`error(status)` makes the service's own error answer);
        None when it is over and the request goes through."""
        if not self.active:
            return None
        kind = self.kinds[next(self._turn) % len(self.kinds)]
        self.met.append(kind)
        if kind == "timeout":
            await asyncio.sleep(self.hang_seconds)  # the fake hangs like a stuck server; the client gives up
            return error(504)
        if kind == "reset":
            sock = request.transport.get_extra_info("socket") if request.transport else None
            if sock is not None:
                # Linger 0: close() sends RST instead of FIN, so the client reads "connection reset by peer".
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if request.transport is not None:
                request.transport.abort()
            return error(500)  # written to a closed connection: nobody reads it
        return error(500)

"""The terminal transport: command lines on stdin, replies and followed output on stdout.

Works with a terminal or with pipes and files. A line ending in a backslash continues on the next line, so a
`/task new` can carry a body. At the end of stdin it keeps serving (tasks keep streaming) until orch serve
is stopped. A file is printed as its caption, a `--- NAME ---` line and its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import IO

from orch.bot.chat import Button, Capabilities, ChatRef, CommandSink, Mention
from orch.bot.outbox import Outbox
from orch.transports.base import Transport

CHAT_ID = "terminal"


class StdoutTransport(Transport):
    name = "stdout"
    # No message limits on a terminal: output is printed line by line as `[N] line` (bot.outbox.LineOutbox).
    capabilities = Capabilities(max_message_length=0, can_edit=False)

    def __init__(self, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None) -> None:
        self._stdin = stdin if stdin is not None else sys.stdin.buffer
        self._stdout = stdout if stdout is not None else sys.stdout
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()

    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        loop = asyncio.get_running_loop()

        def read() -> None:
            # A plain thread: reading a pipe or a regular file blocks, and the loop must not wait on it at exit.
            for raw in iter(self._stdin.readline, b""):
                loop.call_soon_threadsafe(self._lines.put_nowait, raw.decode("utf-8", errors="replace"))
            loop.call_soon_threadsafe(self._lines.put_nowait, None)

        threading.Thread(target=read, name="stdin-reader", daemon=True).start()
        self._consumer = asyncio.create_task(self._consume(sink, outbox), name="stdout-transport")

    async def _consume(self, sink: CommandSink, outbox: Outbox) -> None:
        pending: list[str] = []
        while (raw := await self._lines.get()) is not None:
            line = raw.rstrip("\r\n")
            if line.endswith("\\"):
                pending.append(line[:-1])
                continue
            text = "\n".join([*pending, line]).strip()
            pending.clear()
            if not text:
                continue
            for reply in await sink.handle_text(ChatRef(self.name, CHAT_ID, "local"), text):
                await outbox.reply(CHAT_ID, reply)

    async def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    def is_allowed(self, chat: ChatRef) -> bool:
        # Whoever can type on orch serve's stdin started it: the terminal is its owner's.
        return chat.transport == self.name

    def min_interval(self, chat_id: str) -> float:
        return 0.0  # a terminal has no flood limits

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        async with self._write_lock:
            self._stdout.write(text + "\n")
            self._stdout.flush()
        return ""

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        await self.send(chat_id, text, preformatted=preformatted)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        text = data.decode("utf-8", errors="replace").removesuffix("\n")
        return await self.send(chat_id, f"{caption}\n--- {filename} ---\n{text}")

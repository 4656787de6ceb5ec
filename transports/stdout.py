"""The terminal transport: command lines on stdin, replies and followed output on stdout.

Works with a terminal or with pipes and files. A line ending in a backslash continues on the next line, so a
`/task new` can carry a body. Everything printed goes through orch.core.text.terminal_safe: control characters
someone put in a title or an agent printed are shown escaped, never obeyed by the terminal.

stdin is read by the event loop itself (its reader on the descriptor, then `os.read`), never by a thread in a
buffered read: a thread blocked inside `sys.stdin.buffer.readline()` holds the buffer's lock, and the
interpreter aborts at shutdown when it cannot take that lock ("Fatal Python error: _enter_buffered_busy"). A
regular file or /dev/null, which the loop cannot watch, never blocks a read, so it is read in the loop directly.

The end of input from a terminal (Ctrl-D) is its owner asking orch serve to stop: `on_hangup` is called. The end
of a pipe or a file is not (a script that has written its commands, a service manager's /dev/null): serve goes
on until it is stopped, and tasks keep streaming.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO

from orch.bot.chat import Button, Capabilities, ChatRef, CommandSink, Mention
from orch.bot.outbox import Outbox
from orch.core.text import terminal_safe
from orch.transports.base import Transport

CHAT_ID = "terminal"
_READ_SIZE = 65536


class StdoutTransport(Transport):
    name = "stdout"
    # No message limits on a terminal: output is printed line by line as `[N] line` (bot.outbox.LineOutbox).
    capabilities = Capabilities(max_message_length=0, can_edit=False)

    def __init__(self, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None,
                 on_hangup: Callable[[], None] | None = None) -> None:
        """`on_hangup`: called when a terminal on stdin ends its input (Ctrl-D)."""
        # The file object is kept so that its descriptor stays open as long as the transport reads it.
        self._stdin = stdin if stdin is not None else sys.stdin.buffer
        self._stdout = stdout if stdout is not None else sys.stdout
        self._on_hangup = on_hangup
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._watched: int | None = None  # the descriptor the loop watches, while it does
        self._tasks: list[asyncio.Task[None]] = []
        self._write_lock = asyncio.Lock()

    async def start(self, sink: CommandSink, outbox: Outbox) -> None:
        fd = self._stdin.fileno()
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(fd, self._readable, fd)
            self._watched = fd
        except PermissionError:  # epoll refuses regular files and /dev/null: their reads never block
            self._tasks.append(asyncio.create_task(self._read_file(fd), name="stdout-transport-file"))
        self._tasks.append(asyncio.create_task(self._consume(sink, outbox), name="stdout-transport"))

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:  # someone else sharing the descriptor took what was there
            return
        except OSError:  # EIO: the terminal hung up
            data = b""
        if data:
            self._feed(data)
            return
        self._unwatch()
        self._feed(b"", final=True)
        if os.isatty(fd) and self._on_hangup is not None:
            self._on_hangup()

    async def _read_file(self, fd: int) -> None:
        while data := os.read(fd, _READ_SIZE):
            self._feed(data)
            await asyncio.sleep(0)  # a long file must not keep the loop from the rest of serve
        self._feed(b"", final=True)

    def _feed(self, data: bytes, *, final: bool = False) -> None:
        """Bytes read, as whole lines on the queue; at the end, what is left as a last line, then None."""
        text = self._partial + self._decoder.decode(data, final=final)
        *lines, self._partial = text.split("\n")
        for line in lines:
            self._lines.put_nowait(line + "\n")
        if final:
            if self._partial:
                self._lines.put_nowait(self._partial)
                self._partial = ""
            self._lines.put_nowait(None)

    def _unwatch(self) -> None:
        if self._watched is not None:
            asyncio.get_running_loop().remove_reader(self._watched)
            self._watched = None

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
        self._unwatch()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def is_allowed(self, chat: ChatRef) -> bool:
        # Whoever can type on orch serve's stdin started it: the terminal is its owner's.
        return chat.transport == self.name

    def min_interval(self, chat_id: str) -> float:
        return 0.0  # a terminal has no flood limits

    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str:
        async with self._write_lock:
            self._stdout.write(terminal_safe(text) + "\n")
            self._stdout.flush()
        return ""

    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None:
        await self.send(chat_id, text, preformatted=preformatted)

    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str:
        text = data.decode("utf-8", errors="replace").removesuffix("\n")
        return await self.send(chat_id, f"{caption}\n--- {filename} ---\n{text}")

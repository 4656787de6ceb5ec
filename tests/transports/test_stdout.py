"""The terminal transport's own behaviour: what it prints is safe for a terminal, and it reads every kind of stdin
(a pipe, a terminal, a regular file, /dev/null) with the event loop, telling a terminal's end from a pipe's."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import pytest
from orch.bot.app import BotApp
from orch.bot.outbox import LineOutbox
from orch.core.events import OutputChunk
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk
from orch.transports.stdout import StdoutTransport

from tests.conftest import wait_until
from tests.transports.conftest import NoEngine


class Terminal:
    """A StdoutTransport over a BotApp, reading `stdin` and printing into `screen`."""

    def __init__(self, services: Services, stdin: IO[bytes]) -> None:
        assert services.hub is not None
        self.screen = io.StringIO()
        self.hangups = 0
        self.app = BotApp(services, NoEngine(), services.hub)
        self.transport = StdoutTransport(stdin=stdin, stdout=self.screen, on_hangup=self._hangup)
        self.outbox = LineOutbox(self.transport)
        self.app.attach(self.transport, self.outbox)

    def _hangup(self) -> None:
        self.hangups += 1

    def lines(self) -> list[str]:
        return self.screen.getvalue().splitlines()

    async def shows(self, line: str) -> None:
        async def shown() -> bool:
            return line in self.lines()

        await wait_until(shown, what=f"{line!r} on the terminal, which shows {self.lines()!r}")


@pytest.fixture
async def pipe(services: Services) -> AsyncIterator[tuple[Terminal, IO[bytes]]]:
    read_end, write_end = os.pipe()
    keyboard = os.fdopen(write_end, "wb", buffering=0)
    terminal = Terminal(services, os.fdopen(read_end, "rb"))
    await terminal.transport.start(terminal.app, terminal.outbox)
    yield terminal, keyboard
    if not keyboard.closed:
        keyboard.close()
    await terminal.transport.stop()
    await terminal.app.stop()


async def test_control_characters_are_shown_escaped_never_sent_to_the_terminal(
        pipe: tuple[Terminal, IO[bytes]], services: Services, store: SqliteStore) -> None:
    terminal, keyboard = pipe
    keyboard.write(b"/task new \x1b[31mred\x1b]0;pwned\x07 \xe2\x80\xae evil\n")
    await terminal.shows("task 1 created: \\x1b[31mred\\x1b]0;pwned\\x07 \\u202e evil (new, project scratch)")
    # The title is stored as typed; only what reaches a terminal is escaped.
    assert (await services.tasks.get(1)).title == "\x1b[31mred\x1b]0;pwned\x07 \u202e evil"
    chunk = Chunk(1, 1, "50%\r100%\x1b[2J\x9b1m", time.time())
    await store.append_chunks([chunk])
    assert services.hub is not None
    services.hub.publish(OutputChunk(chunk))
    await terminal.shows("[1] 50%\\r100%\\x1b[2J\\x9b1m")
    assert not [c for c in terminal.screen.getvalue() if c < " " and c not in "\n\t"]


async def test_a_title_of_only_invisible_characters_is_refused_on_the_terminal(
        pipe: tuple[Terminal, IO[bytes]], services: Services) -> None:
    terminal, keyboard = pipe
    keyboard.write("/task new \u200b\u200d \x1b\ufeff\n".encode())
    await terminal.shows("a task title must show something; this one is only spaces, zero-width or control "
                         "characters")
    assert await services.tasks.list_tasks() == []


async def test_bytes_that_are_not_utf8_and_a_last_line_without_newline(
        pipe: tuple[Terminal, IO[bytes]], services: Services) -> None:
    terminal, keyboard = pipe
    keyboard.write(b"/task new caf\xc3")  # a character cut in two by the writes
    keyboard.write(b"\xa9 \xff \xed\xa0\x80 ok\n/task new split")
    keyboard.write(b" across writes \\\nbody line\n/task show 1")
    keyboard.close()  # the end of a pipe: the last line counts, and serve is not asked to stop
    await terminal.shows("task 2 created: split across writes (new, project scratch)")
    await terminal.shows("task 1: caf\u00e9 \ufffd \ufffd\ufffd\ufffd ok")
    assert (await services.tasks.get(2)).body == "body line"
    assert terminal.hangups == 0


@pytest.mark.parametrize("source", ["file", "/dev/null"])
async def test_a_regular_file_or_dev_null_as_stdin(services: Services, tmp_path: Path, source: str) -> None:
    path = tmp_path / "commands.txt"
    path.write_bytes(b"/task new one\n/task new two\n")
    with open(path if source == "file" else os.devnull, "rb") as stdin:
        terminal = Terminal(services, stdin)
        await terminal.transport.start(terminal.app, terminal.outbox)
        try:
            if source == "file":
                await terminal.shows("task 2 created: two (new, project scratch)")
            else:
                await asyncio.sleep(0)  # one turn of the loop: the transport reads /dev/null's end at once
        finally:
            await terminal.transport.stop()
            await terminal.app.stop()
    assert terminal.hangups == 0
    assert len(await services.tasks.list_tasks()) == (2 if source == "file" else 0)


async def test_the_end_of_input_from_a_terminal_asks_serve_to_stop(services: Services) -> None:
    master, slave = os.openpty()
    stdin = os.fdopen(slave, "rb")
    terminal = Terminal(services, stdin)
    await terminal.transport.start(terminal.app, terminal.outbox)
    try:
        os.write(master, b"/task new typed at a terminal\n")
        await terminal.shows("task 1 created: typed at a terminal (new, project scratch)")
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: the terminal's end of input

        async def hung_up() -> bool:
            return terminal.hangups == 1

        await wait_until(hung_up, what="the terminal transport to ask for a stop")
    finally:
        await terminal.transport.stop()
        await terminal.app.stop()
        stdin.close()
        os.close(master)

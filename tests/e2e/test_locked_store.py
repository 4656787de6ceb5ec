"""orch.db locked by another process (an open write transaction, as the `sqlite3` shell leaves one): a CLI command
waits for the lock and goes through; a chat command whose wait runs out gets one line saying orch.db is busy —
never "internal error", never a traceback — and nothing is lost on either side."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from orch.bot.app import BotApp
from orch.bot.chat import ChatRef, Reply
from orch.core.events import EventHub
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore

from tests.conftest import wait_until
from tests.fakes.chat_port import FakeChatPort
from tests.helpers import fast_config
from tests.strategies import ErrorLog

ORCH = str(Path(sys.executable).parent / "orch")
CHAT = ChatRef("fake", "1", "7")
# Holds a write transaction on the database until a line arrives on its stdin, then commits.
HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO kv (key, value) VALUES ('held', 'by another process')")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


class Holder:
    """Another process with an open write transaction on orch.db."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def lock(cls, db: Path) -> Holder:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, str(db),
                                                       stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"locked\n"
        return cls(process)

    async def release(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()
        assert await asyncio.wait_for(self.process.stdout.readline(), 30) == b"released\n"
        await self.process.wait()


class _Engine:
    def status_lines(self) -> list[str]:
        return ["engine: idle"]


@pytest.fixture
async def initialized(home: OrchHome) -> AsyncIterator[OrchHome]:
    store = await SqliteStore.open(home.db_file)  # the schema exists before anyone holds the lock
    await store.close()
    yield home


async def test_a_chat_command_says_busy_in_one_line_and_loses_nothing(initialized: OrchHome) -> None:
    hub = EventHub()
    store = await SqliteStore.open(initialized.db_file, busy_timeout=0.3)
    services = Services(initialized, store, config=fast_config(), hub=hub)
    app = BotApp(services, _Engine(), hub)
    app.attach(FakeChatPort(max_length=4096))
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        holder = await Holder.lock(initialized.db_file)
        try:
            assert await app.handle_text(CHAT, "/task new while locked") == [Reply(
                "orch.db is busy: another process has held it locked for over 0.3 s; nothing was changed, try again")]
        finally:
            await holder.release()
        assert await app.handle_text(CHAT, "/task new after the lock") == [
            Reply("task 1 created: after the lock (new, project scratch)", task_id=1)]
        assert [task.title for task in await services.tasks.list_tasks()] == ["after the lock"]
        assert await store.kv_get("held") == "by another process"
    finally:
        logging.getLogger().removeHandler(errors)
        await app.stop()
        await store.close()
    assert not errors.records, [record.getMessage() for record in errors.records]


async def test_a_cli_command_waits_for_the_lock_and_goes_through(initialized: OrchHome) -> None:
    holder = await Holder.lock(initialized.db_file)
    env = {**os.environ, "ORCH_HOME": str(initialized.root)}
    cli = await asyncio.create_subprocess_exec(ORCH, "task", "new", "while locked", env=env,
                                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    maps = Path(f"/proc/{cli.pid}/maps")

    async def reading_the_database() -> bool:
        # The CLI has mapped orch.db's shared memory: it is past its imports, on its way to the write.
        try:
            return "orch.db-shm" in maps.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return cli.returncode is not None

    await wait_until(reading_the_database, timeout=60, what="the CLI to open orch.db")
    assert cli.returncode is None, "the CLI ended while the database was locked"
    await holder.release()
    stdout, stderr = await asyncio.wait_for(cli.communicate(), 60)
    assert (cli.returncode, stdout, stderr) == (0, b"task 1 created: while locked (new, project scratch)\n", b"")
    store = await SqliteStore.open(initialized.db_file)
    try:
        assert await store.kv_get("held") == "by another process"
        assert [task.title for task in await store.list_tasks()] == ["while locked"]
    finally:
        await store.close()
    subprocess.run(["tmux", "-L", initialized.tmux_socket_name, "kill-server"], capture_output=True)

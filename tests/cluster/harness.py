"""A cluster on one machine for the tests: `orch serve` and `orch worker` processes, each with an ORCH_HOME of
its own (own tmux server, worktrees, attempt folders), sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from orch.core.home import OrchHome

from tests.e2e.test_serve_stdout import ORCH, Serve

# Short beats so a dead host is noticed within the test's patience.
CONFIG = """\
cluster:
  workers: true
  heartbeat_seconds: 0.3
  host_dead_after_seconds: {dead_after}
workflow:
  max_parallel: 2
"""


def make_home(path: Path, dead_after: float = 4) -> OrchHome:
    path.mkdir(mode=0o700, parents=True)  # as orch makes it: an open one would be tightened, with a warning
    (path / "config.yml").write_text(CONFIG.format(dead_after=dead_after))
    return OrchHome(path)


class Worker:
    """One `orch worker --host NAME` process."""

    def __init__(self, home: OrchHome, host: str, url: str) -> None:
        self.home = home
        self.host = host
        self.env = {**os.environ, "ORCH_HOME": str(home.root), "ORCH_STORE_URL": url}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            ORCH, "worker", "--host", self.host, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        if not line.startswith(f"orch worker {self.host}: agents".encode()):
            stderr = await asyncio.wait_for(self.process.stderr.read(), 30) if self.process.stderr else b""
            raise AssertionError(f"worker {self.host} did not start: {line!r} {stderr.decode()[-2000:]}")

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), 30)

    def kill_tmux(self) -> None:
        subprocess.run(["tmux", "-L", self.home.tmux_socket_name, "kill-server"], capture_output=True)


async def start_serve(home: OrchHome, url: str) -> Serve:
    env = {**os.environ, "ORCH_HOME": str(home.root), "ORCH_STORE_URL": url}
    process = await asyncio.create_subprocess_exec(
        ORCH, "serve", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    return Serve(process)


async def stop_serve(serve: Serve, home: OrchHome) -> None:
    if serve.process.returncode is None:
        serve.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(serve.process.wait(), 30)
    subprocess.run(["tmux", "-L", home.tmux_socket_name, "kill-server"], capture_output=True)


async def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows read by a connection of the test's own."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(sql, params)
        return await cursor.fetchall()


@contextlib.asynccontextmanager
async def running_cluster(root: Path, url: str, hosts: int = 2,
                          dead_after: float = 4) -> AsyncIterator[tuple[Serve, list[Worker]]]:
    """serve (home `root/serve`) and `hosts` workers (`root/w1`, …), started; a test may replace a worker in the
    list (teardown stops whatever is there)."""
    serve_home = make_home(root / "serve", dead_after)
    workers = [Worker(make_home(root / f"w{n}"), f"w{n}", url) for n in range(1, hosts + 1)]
    serve = await start_serve(serve_home, url)
    try:
        for worker in workers:
            await worker.start()
        yield serve, workers
    finally:
        for worker in workers:
            await worker.stop()
            worker.kill_tmux()
        await stop_serve(serve, serve_home)

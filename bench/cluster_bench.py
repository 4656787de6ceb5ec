"""Cluster benchmark: tasks handed to `orch worker` processes through procrastinate on PostgreSQL.

    python bench/cluster_bench.py [--quick]

Everything runs on this machine: a throwaway PostgreSQL server (tests/postgres_cluster.py, a Unix socket only),
and each "host" an `orch worker` process with an ORCH_HOME of its own. This process plays serve's part: it queues
tasks as ClusterExecutor does (routed, then a run_task job for the agent's queue) and relays the workers' output
with serve's Relay (LISTEN, then read the store by seq).

1. Claiming: K short shell tasks queued at once over 1, 2 and 4 workers (4 slots each): tasks/s from the first
   queueing to the last agent started; then tasks queued one at a time on one worker: the claim (procrastinate's
   `deferred` → `started` events) and queue → agent started (orch's worktree and tmux session included).
2. Line to serve: 20 sessions printing `L <task> <seq> <monotonic time>` lines at a steady rate, split over 2
   workers; latency is this process's monotonic clock (system-wide) when the Relay publishes the line, minus the
   time in the line. The same 20 sessions run by orch's engine in this process on SQLite (serve as it is without
   a cluster), in the same run. Lost and duplicated lines count sequence numbers per session, as the store holds
   them and as the Relay published them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from orch.core.cluster.queue import defer_run, open_app
from orch.core.cluster.relay import Relay
from orch.core.config import load_config
from orch.core.events import EventHub, OutputChunk
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.postgres import PostgresStore
from orch.core.tasks.models import NewTask, RouteDecision, TaskStatus

from tests.postgres_cluster import PostgresCluster, find_bindir

ORCH = str(Path(sys.executable).parent / "orch")
WRITER = """\
import sys, time
task, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for seq in range(count):
    delay = start + seq / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    print(f"L {task} {seq} {time.monotonic():.6f}", flush=True)
"""
CONFIG = """\
cluster:
  workers: true
  heartbeat_seconds: 1
workflow:
  max_parallel: {slots}
"""


def _home(path: Path, slots: int) -> OrchHome:
    path.mkdir(mode=0o700, parents=True)
    (path / "config.yml").write_text(CONFIG.format(slots=slots))
    return OrchHome(path)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


@contextlib.asynccontextmanager
async def workers(root: Path, url: str, count: int, slots: int) -> AsyncIterator[list[OrchHome]]:
    """`count` `orch worker` processes, started (each printed its first line) and stopped at the end."""
    homes = [_home(root / f"w{n}", slots) for n in range(count)]
    processes = []
    try:
        for n, home in enumerate(homes):
            env = {**os.environ, "ORCH_HOME": str(home.root), "ORCH_STORE_URL": url}
            process = await asyncio.create_subprocess_exec(ORCH, "worker", "--host", f"w{n}", env=env,
                                                           stdout=asyncio.subprocess.PIPE)
            processes.append(process)
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), 60)
        yield homes
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), 30)
        for home in homes:
            subprocess.run(["tmux", "-L", home.tmux_socket_name, "kill-server"], capture_output=True)


async def _routed(store: PostgresStore, title: str, body: str) -> int:
    """A task routed to the shell agent, as serve leaves it before queueing it."""
    task = await store.create_task(NewTask(title, body, labels=("agent:shell",)))
    await store.save_route(task.id, RouteDecision("shell", None, "simple", "bench", "label"))
    await store.transition(task.id, TaskStatus.ROUTED, agent="shell", complexity="simple", route_reason="bench")
    return task.id


async def _until_started(store: PostgresStore, task_ids: list[int]) -> dict[int, float]:
    """Each task's first attempt's start time, once every task has one."""
    while True:
        started = {}
        for task_id in task_ids:
            attempts = await store.list_attempts(task_id)
            if attempts:
                started[task_id] = attempts[0].started_at
        if len(started) == len(task_ids):
            return started
        await asyncio.sleep(0.02)


async def _until_ended(store: PostgresStore, task_ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [await store.get_task(task_id) for task_id in task_ids]
        if all(task is not None and task.status.is_terminal for task in tasks):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the tasks did not end")


@dataclass
class Claims:
    tasks_per_second: dict[int, float]
    claim_ms: list[float]
    to_agent_ms: list[float]


async def bench_claims(root: Path, cluster: PostgresCluster, burst: int, sequential: int) -> Claims:
    per_second: dict[int, float] = {}
    for count in (1, 2, 4):
        url = cluster.url(cluster.create_database())
        store = await PostgresStore.open(url)
        app = await open_app(url)
        try:
            async with workers(root / f"claims-{count}", url, count, slots=4):
                ids = [await _routed(store, f"t{n}", "true") for n in range(burst)]
                first = time.time()
                for task_id in ids:
                    await defer_run(app, task_id, "shell")
                started = await _until_started(store, ids)
                per_second[count] = burst / (max(started.values()) - first)
                await _until_ended(store, ids, 120)
        finally:
            await app.close_async()
            await store.close()
    url = cluster.url(cluster.create_database())
    store = await PostgresStore.open(url)
    app = await open_app(url)
    to_agent: list[float] = []
    try:
        async with workers(root / "claims-seq", url, 1, slots=4):
            for n in range(sequential):
                task_id = await _routed(store, f"s{n}", "true")
                queued = time.time()
                await defer_run(app, task_id, "shell")
                started = await _until_started(store, [task_id])
                to_agent.append((started[task_id] - queued) * 1000)
                await _until_ended(store, [task_id], 60)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT extract(epoch FROM s.at - d.at) * 1000 FROM procrastinate_events d JOIN procrastinate_events s"
                " ON s.job_id = d.job_id AND s.type = 'started' WHERE d.type = 'deferred'")
            claim = [float(row[0]) for row in await cursor.fetchall()]
    finally:
        await app.close_async()
        await store.close()
    return Claims(per_second, claim, to_agent)


@dataclass
class Lines:
    latencies_ms: list[float]
    lost: int
    duplicated: int
    stored_lost: int = 0
    stored_duplicated: int = 0


def _tally(seen: dict[int, list[int]], count: int) -> tuple[int, int]:
    lost = sum(len(set(range(count)) - set(seqs)) for seqs in seen.values())
    duplicated = sum(len(seqs) - len(set(seqs)) for seqs in seen.values())
    return lost, duplicated


def _listen(hub: EventHub, latencies: list[float], seen: dict[int, list[int]]) -> asyncio.Task[None]:
    async def consume() -> None:
        async with hub.subscribed(lambda event: isinstance(event, OutputChunk)) as subscription:
            async for event in subscription:
                assert isinstance(event, OutputChunk)
                now = time.monotonic()
                for line in event.chunk.content.splitlines():
                    parts = line.split()
                    if len(parts) == 4 and parts[0] == "L":
                        latencies.append((now - float(parts[3])) * 1000)
                        seen.setdefault(int(parts[1]), []).append(int(parts[2]))

    return asyncio.create_task(consume())


async def bench_lines_postgres(root: Path, cluster: PostgresCluster, writer: Path, sessions: int, count: int,
                               rate: float) -> Lines:
    url = cluster.url(cluster.create_database())
    store = await PostgresStore.open(url)
    app = await open_app(url)
    hub = EventHub()
    relay = Relay(url, store, hub)
    relaying = asyncio.create_task(relay.run())
    latencies: list[float] = []
    seen: dict[int, list[int]] = {}
    consumer = _listen(hub, latencies, seen)
    try:
        await relay.listening.wait()
        async with workers(root / "lines-pg", url, 2, slots=sessions):
            body = f'{sys.executable} {writer} "$ORCH_TASK_ID" {count} {rate}'
            ids = [await _routed(store, f"s{n}", body) for n in range(sessions)]
            for task_id in ids:
                await defer_run(app, task_id, "shell")
            await _until_ended(store, ids, 120)
            await asyncio.sleep(0.5)  # the last notifications, on their way to the Relay
        stored: dict[int, list[int]] = {}
        for task_id in ids:
            for chunk in await store.chunks_after(task_id, 0, 100_000):
                for line in chunk.content.splitlines():
                    parts = line.split()
                    if len(parts) == 4 and parts[0] == "L":
                        stored.setdefault(task_id, []).append(int(parts[2]))
    finally:
        for task in (consumer, relaying):
            task.cancel()
        await app.close_async()
        await store.close()
    lost, duplicated = _tally({task_id: seen.get(task_id, []) for task_id in ids}, count)
    stored_lost, stored_duplicated = _tally({task_id: stored.get(task_id, []) for task_id in ids}, count)
    return Lines(latencies, lost, duplicated, stored_lost, stored_duplicated)


async def bench_lines_sqlite(root: Path, writer: Path, sessions: int, count: int, rate: float) -> Lines:
    """The same sessions run by orch's own engine on SQLite, in this process (serve without a cluster)."""
    home = _home(root / "sqlite", sessions)
    (home.root / "config.yml").write_text(f"workflow:\n  max_parallel: {sessions}\n")
    hub = EventHub()
    services = await Services.open(home, config=load_config(home.config_file), hub=hub)
    engine = services.engine(poll_interval=0.1)
    latencies: list[float] = []
    seen: dict[int, list[int]] = {}
    consumer = _listen(hub, latencies, seen)
    try:
        await engine.start()
        body = f'{sys.executable} {writer} "$ORCH_TASK_ID" {count} {rate}'
        ids = [(await services.tasks.create(f"s{n}", body, labels=["agent:shell"])).id for n in range(sessions)]
        engine.wake()
        deadline = time.monotonic() + 120
        while not all(task.status.is_terminal for task in [await services.tasks.get(task_id) for task_id in ids]):
            if time.monotonic() > deadline:
                raise TimeoutError("the SQLite run did not end")
            await asyncio.sleep(0.1)
    finally:
        consumer.cancel()
        await engine.stop()
        await services.close()
        subprocess.run(["tmux", "-L", home.tmux_socket_name, "kill-server"], capture_output=True)
    lost, duplicated = _tally({task_id: seen.get(task_id, []) for task_id in ids}, count)
    return Lines(latencies, lost, duplicated)


def _ms(values: list[float]) -> str:
    return f"p50 {_percentile(values, 0.5):6.1f} ms   p95 {_percentile(values, 0.95):6.1f} ms"


async def main(quick: bool) -> int:
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql", file=sys.stderr)
        return 1
    sessions, rate = 20, 20.0
    count = int(rate * (2 if quick else 5))
    cluster = PostgresCluster.start(bindir)
    try:
        with tempfile.TemporaryDirectory(prefix="orch-cluster-bench-") as tmp:
            root = Path(tmp)
            writer = root / "writer.py"
            writer.write_text(WRITER)
            claims = await bench_claims(root, cluster, burst=8 if quick else 16, sequential=5 if quick else 10)
            postgres = await bench_lines_postgres(root, cluster, writer, sessions, count, rate)
            sqlite = await bench_lines_sqlite(root, writer, sessions, count, rate)
    finally:
        cluster.stop()
    print("claiming (shell tasks, 4 slots per worker)")
    for count_workers, per_second in claims.tasks_per_second.items():
        print(f"  {count_workers} worker(s): {per_second:6.1f} tasks/s claimed and started")
    print(f"  claim (deferred -> started on a worker):   {_ms(claims.claim_ms)}")
    print(f"  queued -> agent started (one at a time):   {_ms(claims.to_agent_ms)}")
    print(f"line to serve, {sessions} sessions at {rate:g} lines/s each")
    print(f"  PostgreSQL, 2 workers, through the Relay:  {_ms(postgres.latencies_ms)}   "
          f"lost {postgres.lost}, duplicated {postgres.duplicated} (store: lost {postgres.stored_lost}, "
          f"duplicated {postgres.stored_duplicated})")
    print(f"  SQLite, serve's own engine:                {_ms(sqlite.latencies_ms)}   "
          f"lost {sqlite.lost}, duplicated {sqlite.duplicated}")
    misses = []
    if _percentile(postgres.latencies_ms, 0.95) >= 50:
        misses.append("line-to-serve p95 through PostgreSQL >= 50 ms with 20 sessions")
    if statistics.median(claims.claim_ms) >= 20:
        misses.append("claiming adds >= 20 ms per task (median)")
    if postgres.lost or postgres.duplicated or postgres.stored_lost or postgres.stored_duplicated:
        misses.append("lines lost or duplicated over PostgreSQL")
    for miss in misses:
        print(f"MISSED: {miss}")
    if not misses:
        print("targets met: p95 < 50 ms through PostgreSQL with 20 sessions, claiming < 20 ms per task, "
              "0 lost / 0 duplicated")
    return 1 if misses else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks and shorter sessions")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))

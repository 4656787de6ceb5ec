"""Hosts simulated on one machine: `orch serve` routes and queues, separate `orch worker` processes (each with an
ORCH_HOME of its own) run the agents, all over one PostgreSQL database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.harness import Worker, make_home, query, start_serve, stop_serve
from tests.e2e.test_serve_stdout import Serve


@pytest.fixture
async def cluster(tmp_path: Path, postgres_database: str) -> AsyncIterator[tuple[Serve, list[Worker]]]:
    """serve and three workers, started."""
    serve_home = make_home(tmp_path / "serve")
    workers = [Worker(make_home(tmp_path / f"w{n}"), f"w{n}", postgres_database) for n in (1, 2, 3)]
    serve = await start_serve(serve_home, postgres_database)
    try:
        for worker in workers:
            await worker.start()
        yield serve, workers
    finally:
        for worker in workers:
            await worker.stop()
            worker.kill_tmux()
        await stop_serve(serve, serve_home)


async def test_six_tasks_over_three_workers_run_exactly_once_each(
    cluster: tuple[Serve, list[Worker]], postgres_database: str
) -> None:
    serve, _ = cluster
    for n in range(1, 7):
        await serve.send(f'/task new job {n} agent:shell body:"echo ran {n}; sleep 0.5"')
    done: set[int] = set()
    output: list[str] = []
    while len(done) < 6:
        line = await serve.read_line(60)
        if (ended := re.fullmatch(r"task (\d+) (done|needs_review).*", line)) is not None:
            assert ended.group(2) == "done", line
            done.add(int(ended.group(1)))
        elif line.startswith("["):
            output.append(line)
    # Each task's line reached serve's terminal through the relay, once.
    assert sorted(output) == sorted(f"[{n}] ran {n}" for n in range(1, 7))
    attempts = await query(postgres_database, "SELECT task_id, count(*) FROM attempts GROUP BY task_id")
    assert sorted(attempts) == [(n, 1) for n in range(1, 7)]
    jobs = await query(postgres_database, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
    assert jobs == [("succeeded", 6)]
    hosts = await query(postgres_database, "SELECT DISTINCT host FROM task_leases")
    assert len(hosts) >= 2, hosts  # two at a time per worker: six half-second tasks need more than one host
    chunks = await query(postgres_database, "SELECT task_id, content FROM chunks WHERE content LIKE 'ran%%'")
    assert sorted(chunks) == [(n, f"ran {n}") for n in range(1, 7)]

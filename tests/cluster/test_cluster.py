"""Hosts simulated on one machine: `orch serve` routes and queues, separate `orch worker` processes (each with an
ORCH_HOME of its own) run the agents, all over one PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.harness import Worker, make_home, query, running_cluster
from tests.conftest import wait_until
from tests.e2e.test_serve_stdout import ORCH, Serve


def serve_home_path(tmp_path: Path) -> Path:
    return tmp_path / "serve"


def serve_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {**os.environ, "ORCH_HOME": str(serve_home_path(tmp_path)), "ORCH_STORE_URL": url}


@pytest.fixture
async def cluster(tmp_path: Path, postgres_database: str) -> AsyncIterator[tuple[Serve, list[Worker]]]:
    """serve and three workers, started."""
    async with running_cluster(tmp_path, postgres_database, hosts=3) as started:
        yield started


async def test_six_tasks_over_three_workers_run_exactly_once_each(
    cluster: tuple[Serve, list[Worker]], postgres_database: str, tmp_path: Path
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
    listed = await asyncio.to_thread(subprocess.run, [ORCH, "hosts", "--json"], capture_output=True, text=True,
                                     timeout=60, env=serve_env(tmp_path, postgres_database))
    assert [(host["name"], host["alive"], host["agents"][-1], host["running"]) for host in json.loads(listed.stdout)] \
        == [(f"w{n}", True, "shell", []) for n in (1, 2, 3)]


async def worker_of(url: str, task_id: int, workers: list[Worker]) -> Worker:
    [(host,)] = await query(url, "SELECT host FROM task_leases WHERE task_id = %s", (task_id,))
    return next(worker for worker in workers if worker.host == host)


def has_session(worker: Worker, task_id: int) -> bool:
    return subprocess.run(["tmux", "-L", worker.home.tmux_socket_name, "has-session", "-t", f"orch-{task_id}"],
                          capture_output=True).returncode == 0


async def test_say_stream_and_cancel_reach_the_worker_that_runs_the_task(
    cluster: tuple[Serve, list[Worker]], postgres_database: str, tmp_path: Path
) -> None:
    serve, workers = cluster
    await serve.send('/task new ask agent:shell body:"echo ready; read answer; echo got $answer"')
    # After serve's ready line and its hint: the task's own lines.
    assert (await serve.read_until(r"\[1\] ready"))[-2:] == ["task 1 created: ask (new, project scratch)", "[1] ready"]
    running = await worker_of(postgres_database, 1, workers)
    assert not (serve_home_path(tmp_path) / "worktrees").exists()  # it runs on the worker, not in serve's home
    shown = await asyncio.to_thread(subprocess.run, [ORCH, "task", "show", "1"], capture_output=True, text=True,
                                    timeout=60, env=serve_env(tmp_path, postgres_database))
    attach = f"ssh {running.host} -t tmux -L {running.home.tmux_socket_name} attach -t orch-1"
    assert shown.stdout.splitlines()[-2:] == [f"host: {running.host}", f"watch it: {attach}"]
    await serve.send("/say 1 hello there")
    lines = await serve.read_until(r"task 1 done.*")
    # The terminal echoes what was typed, then the agent answers.
    assert lines[:3] == ["sent to task 1", "[1] hello there", "[1] got hello there"], lines
    # Any host's CLI reads the same lines from the store.
    other = make_home(tmp_path / "elsewhere")
    streamed = await asyncio.to_thread(
        subprocess.run, [ORCH, "stream", "1"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ORCH_HOME": str(other.root), "ORCH_STORE_URL": postgres_database})
    assert streamed.stdout.splitlines()[:3] == ["ready", "hello there", "got hello there"]
    assert not has_session(running, 1)

    await serve.send('/task new forever agent:shell body:"echo started; sleep 600"')
    await serve.read_until(r"\[2\] started")
    running = await worker_of(postgres_database, 2, workers)
    assert has_session(running, 2)
    await serve.send("/task cancel 2")
    await serve.read_until(r"task 2 cancelled.*")

    async def pane_gone() -> bool:
        return not has_session(running, 2)

    await wait_until(pane_gone, 20, "the worker to stop task 2's pane")

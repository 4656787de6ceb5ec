"""A worker that dies: restarted on its host it takes its tasks up again without losing or repeating a line; dead
for good (with its tmux server), its task runs again on another host; cut off for longer than the deadline and
back, it is fenced out and stops its own pane."""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.harness import Worker, query, running_cluster
from tests.cluster.test_cluster import has_session, worker_of
from tests.conftest import wait_until
from tests.e2e.test_serve_stdout import Serve

COUNT = 'for i in $(seq 1 30); do echo line $i; sleep 0.1; done'


@pytest.fixture
async def pair(tmp_path: Path, postgres_database: str) -> AsyncIterator[tuple[Serve, list[Worker]]]:
    """A serve that takes a worker silent for 4 s for dead."""
    async with running_cluster(tmp_path, postgres_database, dead_after=4) as started:
        yield started


@pytest.fixture
async def patient_pair(tmp_path: Path, postgres_database: str) -> AsyncIterator[tuple[Serve, list[Worker]]]:
    """A serve that waits a minute before it takes a worker for dead: longer than any restart here."""
    async with running_cluster(tmp_path, postgres_database, dead_after=60) as started:
        yield started


async def output_lines(serve: Serve, task_id: int) -> list[str]:
    """serve's output lines of the task until it ends (status lines of the task and others aside)."""
    lines: list[str] = []
    while True:
        line = await serve.read_line(60)
        if re.fullmatch(rf"task {task_id} (done|needs_review).*", line):
            assert " done " in line, line
            return lines
        if line.startswith(f"[{task_id}] "):
            lines.append(line.removeprefix(f"[{task_id}] "))


async def kill_its_worker_mid_count(serve: Serve, workers: list[Worker], url: str) -> Worker:
    """Start task 1 counting to 30 and, once it printed line 3, kill -9 the worker running it (its tmux server,
    and the agent in it, go on)."""
    await serve.send(f'/task new count agent:shell body:"{COUNT}"')
    await serve.read_until(r"\[1\] line 3")
    victim = await worker_of(url, 1, workers)
    await victim.stop(signal.SIGKILL)
    return victim


async def test_a_worker_killed_mid_task_takes_it_up_again_after_a_restart(
    patient_pair: tuple[Serve, list[Worker]], postgres_database: str
) -> None:
    serve, workers = patient_pair
    victim = await kill_its_worker_mid_count(serve, workers, postgres_database)
    again = Worker(victim.home, victim.host, postgres_database)
    workers[workers.index(victim)] = again
    await again.start()
    rest = await output_lines(serve, 1)
    assert rest == [f"line {i}" for i in range(4, 31)]
    stored = await query(postgres_database, "SELECT content FROM chunks WHERE task_id = 1 AND NOT is_final "
                                            "ORDER BY seq")
    assert "\n".join(row[0] for row in stored).splitlines() == [f"line {i}" for i in range(1, 31)]
    assert await query(postgres_database, "SELECT number, outcome FROM attempts") == [(1, "done")]


async def test_a_worker_dead_with_its_tmux_server_loses_the_attempt_and_another_host_runs_the_task(
    pair: tuple[Serve, list[Worker]], postgres_database: str
) -> None:
    serve, workers = pair
    victim = await kill_its_worker_mid_count(serve, workers, postgres_database)
    victim.kill_tmux()
    await output_lines(serve, 1)
    survivor = next(worker for worker in workers if worker is not victim)
    assert await worker_of(postgres_database, 1, workers) is survivor
    attempts = await query(postgres_database, "SELECT number, outcome FROM attempts ORDER BY number")
    assert attempts == [(1, "lost"), (2, "done")]


async def test_a_worker_cut_off_past_the_deadline_is_fenced_out_and_stops_its_pane(
    pair: tuple[Serve, list[Worker]], postgres_database: str
) -> None:
    serve, workers = pair
    await serve.send(f'/task new count agent:shell body:"{COUNT}"')
    await serve.read_until(r"\[1\] line 3")
    victim = await worker_of(postgres_database, 1, workers)
    survivor = next(worker for worker in workers if worker is not victim)
    assert victim.process is not None
    victim.process.send_signal(signal.SIGSTOP)  # cut off: no heartbeat, no writes; its agent prints on
    try:
        async def moved() -> bool:
            return await worker_of(postgres_database, 1, workers) is survivor

        await wait_until(moved, 30, "task 1 to move to the other worker")
    finally:
        victim.process.send_signal(signal.SIGCONT)

    async def stopped_there() -> bool:
        return not has_session(victim, 1)

    await wait_until(stopped_there, 20, "the cut-off worker to stop its pane")
    await output_lines(serve, 1)
    assert await query(postgres_database, "SELECT number, outcome FROM attempts ORDER BY number") == [
        (1, "lost"), (2, "done")]
    # What the cut-off worker captured after the move was refused: the first attempt's lines stop where it was
    # cut off, then the second attempt's run whole.
    stored = await query(postgres_database, "SELECT content FROM chunks WHERE task_id = 1 AND NOT is_final "
                                            "ORDER BY seq")
    lines = "\n".join(row[0] for row in stored).splitlines()
    second = max(index for index, line in enumerate(lines) if line == "line 1")
    assert lines[:second] == [f"line {i}" for i in range(1, second + 1)]
    assert lines[second:] == [f"line {i}" for i in range(1, 31)]

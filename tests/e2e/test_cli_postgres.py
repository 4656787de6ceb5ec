"""orch on a PostgreSQL store (ORCH_STORE_URL): `orch serve` runs a task while the CLI beside it reads the same
store, tasks live there and not in ORCH_HOME, doctor's lines, and the one line a command prints when the store
cannot be used."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.store.postgres_schema import LATEST

from tests.e2e.test_cli import ORCH, orch
from tests.e2e.test_serve_stdout import Serve

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yml"


def test_tasks_live_in_the_postgresql_store(tmp_path: Path, postgres_database: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_STORE_URL", postgres_database)
    created = orch("task", "new", "on postgres", "--agent", "shell")
    assert (created.returncode, created.stderr) == (0, "")
    [task] = json.loads(orch("task", "list", "--json").stdout)
    assert (task["id"], task["title"], task["labels"]) == (1, "on postgres", ["agent:shell"])
    assert not (tmp_path / "home" / "orch.db").exists()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")  # without credentials for any agent doctor says 1
    doctor = orch("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert f"ok  store schema: {LATEST}, current" in doctor.stdout.splitlines()
    queue = version("procrastinate")
    assert f"ok  job queue: procrastinate {queue}, 0 job(s) waiting, 0 running; 0 worker host(s) seen (orch hosts)" \
        in doctor.stdout.splitlines()


def test_an_unreachable_store_is_one_line_for_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_STORE_URL", "postgresql://orch:s3cret@/orch?host=/nonexistent")
    message = ("orch: store: cannot connect to postgresql://orch:***@/orch?host=/nonexistent: "
               "No such file or directory\n")
    for args in (("task", "list"), ("serve",)):
        result = orch(*args)
        assert (result.returncode, result.stderr) == (1, message), args
    doctor = orch("doctor")
    assert doctor.returncode == 1
    assert f"NO  {message.removeprefix('orch: ').strip()}" in doctor.stdout.splitlines()


def test_without_psycopg_a_url_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_STORE_URL", "postgresql://orch@db/orch")
    # An interpreter where psycopg cannot be imported, as in an install without the cluster extra.
    hidden = "import sys; sys.modules['psycopg'] = None; from orch.transports.cli.main import main; main()"
    result = subprocess.run([sys.executable, "-c", hidden, "task", "list"], capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stderr) == (
        1, "orch: store: a PostgreSQL URL needs psycopg: pip install 'orch-agents[cluster]'\n")


def test_without_a_url_psycopg_is_not_loaded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # as orch makes it: an open one would be tightened, with a warning
    (home / "config.yml").write_text(EXAMPLE.read_text())
    report = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(str('psycopg' in sys.modules))); "
              "from orch.transports.cli.main import main; main()")
    result = subprocess.run([sys.executable, "-c", report, "task", "list", "--json"], capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "False")


async def test_serve_runs_a_task_that_the_cli_streams_from_the_same_store(
    tmp_path: Path, postgres_database: str
) -> None:
    env = {**os.environ, "ORCH_HOME": str(tmp_path / "home"), "ORCH_STORE_URL": postgres_database}
    process = await asyncio.create_subprocess_exec(
        ORCH, "serve", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    serve = Serve(process)
    try:
        await serve.started()
        await serve.send('/task new count agent:shell body:"for i in 1 2 3; do echo line $i; done"')
        lines = await serve.read_until(r"task 1 (done|needs_review).*")
        assert lines[:4] == ["task 1 created: count (new, project scratch)", "[1] line 1", "[1] line 2", "[1] line 3"]
        assert lines[4].startswith("task 1 done (shell")
        streamed = await asyncio.to_thread(
            subprocess.run, [ORCH, "stream", "1"], env=env, capture_output=True, text=True, timeout=60)
        assert streamed.stdout.splitlines()[:3] == ["line 1", "line 2", "line 3"]
        assert not (tmp_path / "home" / "orch.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
        subprocess.run(["tmux", "-L", OrchHome(tmp_path / "home").tmux_socket_name, "kill-server"],
                       capture_output=True)

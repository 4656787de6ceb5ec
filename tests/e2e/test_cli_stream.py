"""`orch stream ID` with no `orch serve` running: one line on stderr saying so, the stored output, then an exit
(not a wait for ever on a task that nothing runs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus

from tests.e2e.test_cli_changes import in_store, orch


def test_stream_without_serve_prints_what_is_stored_and_exits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert orch("task", "new", "left running", "--agent", "shell").returncode == 0

    async def ran_halfway(store: SqliteStore) -> None:
        await store.transition(1, TaskStatus.IN_PROGRESS)
        await store.append_chunks([Chunk(1, 1, "line one\nline two", time.time())])

    in_store(home, ran_halfway)
    # A pid file left by a serve that did not stop cleanly names no live process.
    gone = subprocess.Popen(["true"])
    gone.wait()
    OrchHome(home).pid_file.write_text(f"{gone.pid}\n")
    streamed = orch("stream", "1")
    assert (streamed.returncode, streamed.stdout) == (1, "line one\nline two\n")
    assert streamed.stderr == (f"orch: orch serve is not running for {home}; task 1 is in_progress and its output "
                               "will not grow: here is what is stored\n")


def test_stream_of_an_ended_task_needs_no_serve(tmp_path: Path) -> None:
    assert orch("task", "new", "finished", "--agent", "shell").returncode == 0

    async def ended(store: SqliteStore) -> None:
        await store.append_chunks([Chunk(1, 1, "all done", time.time())])
        await store.transition(1, TaskStatus.DONE)

    in_store(tmp_path / "home", ended)
    streamed = orch("stream", "1")
    assert (streamed.returncode, streamed.stdout, streamed.stderr) == (0, "all done\ntask 1 done\n", "")

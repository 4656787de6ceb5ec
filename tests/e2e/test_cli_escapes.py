"""The CLI never lets a title, a job or an agent's output drive the terminal it prints on: control characters
come out escaped (`\\x1b[31m`) in task new/list/show, job add/list, stream and error lines; a title of only
invisible characters is refused with one line and changes nothing."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Chunk, TaskStatus

ORCH = str(Path(sys.executable).parent / "orch")
TITLE = "red \x1b[31malert\x1b[0m\x07 \u202eevil\x9b"
SHOWN = r"red \x1b[31malert\x1b[0m\x07 \u202eevil\x9b"
# What a terminal obeys: C0 and C1 controls (newline and tab aside) and the bidirectional overrides.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([ORCH, *args], capture_output=True, text=True, timeout=60)
    assert not RAW.search(result.stdout + result.stderr), (args, result.stdout, result.stderr)
    return result


def finish_with_output(home: Path, task_id: int, line: str) -> None:
    """What serve would have stored: a line of the task's output, then the task done."""

    async def run() -> None:
        store = await SqliteStore.open(OrchHome(home).db_file)
        try:
            await store.append_chunks([Chunk(task_id, 1, line, time.time())])
            await store.transition(task_id, TaskStatus.DONE)
        finally:
            await store.close()

    asyncio.run(run())


def test_titles_and_output_are_printed_escaped(tmp_path: Path) -> None:
    created = orch("task", "new", TITLE, "--agent", "shell")
    assert (created.returncode, created.stdout) == (0, f"task 1 created: {SHOWN} (new, project scratch)\n")
    assert SHOWN in orch("task", "list").stdout
    assert SHOWN in orch("task", "show", "1").stdout
    assert orch("job", "add", "@daily", TITLE).stdout.startswith(f"job 1 added: @daily {SHOWN} (next run ")
    assert SHOWN in orch("job", "list").stdout
    finish_with_output(tmp_path / "home", 1, "\x1b]0;owned\x07\x1b[2Jcleared")
    streamed = orch("stream", "1")
    assert streamed.returncode == 0
    assert streamed.stdout.startswith(r"\x1b]0;owned\x07\x1b[2Jcleared" + "\n")
    # An error line quotes what was typed: escaped too.
    refused = orch("task", "new", "x", "--project", "\x1b[2Jnope")
    assert refused.returncode == 1 and r"\x1b[2Jnope" in refused.stderr


def test_a_title_of_only_invisible_characters_is_refused() -> None:
    for argv in (("task", "new", "\u200b\x1b\u2060 "), ("job", "add", "@daily", "\u200b\x1b\u2060 ")):
        refused = orch(*argv)
        assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1, refused.stderr
        assert "must show something" in refused.stderr
    assert orch("task", "list", "--json").stdout == "[]\n"
    assert orch("job", "list").stdout == "no scheduled jobs\n"

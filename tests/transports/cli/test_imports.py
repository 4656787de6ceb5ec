"""A command imports only what it uses: what each loads, seen in a fresh interpreter.

This is what keeps `orch --help` and `orch task list --json` quick (bench/cli_bench.py measures how quick):
argparse for the help, sqlite3 alone for listing and showing tasks (no event loop), asyncio and aiosqlite for
what changes tasks, and never the chat libraries, the router's SDK or tmux unless the command needs them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHAT = {"telegram", "discord"}
HEAVY = {"pydantic", "yaml", "apscheduler", "tzlocal", "libtmux", "anthropic"} | CHAT
STORE = {"asyncio", "aiosqlite", "sqlite3"}
# At exit, so that commands which end in SystemExit (--help, version) report too.
REPORT = ("import atexit, json, sys; atexit.register(lambda: sys.stderr.write(json.dumps(sorted({name.split('.')[0] "
          "for name in sys.modules})))); from orch.transports.cli.main import main; main()")


def loaded(*argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", REPORT, *argv], capture_output=True, text=True, timeout=60)
    # `orch stream` of a cancelled task exits 1; every other command here succeeds.
    assert result.returncode == (1 if argv[:1] == ("stream",) else 0), result.stdout
    return set(json.loads(result.stderr))


@pytest.mark.parametrize("argv", [(), ("--help",), ("version",), ("task", "new", "--help")])
def test_help_and_version_load_neither_the_store_nor_any_library(argv: tuple[str, ...]) -> None:
    assert loaded(*argv) & (HEAVY | STORE) == set()


@pytest.mark.parametrize("argv", [("task", "list"), ("task", "list", "--json"), ("task", "show", "1"),
                                  ("task", "show", "1", "--json")])
def test_listing_and_showing_read_the_file_without_an_event_loop(argv: tuple[str, ...]) -> None:
    assert loaded("task", "new", "a task", "--agent", "shell") >= STORE
    names = loaded(*argv)
    assert "sqlite3" in names
    assert names & (HEAVY | {"asyncio", "aiosqlite"}) == set()


@pytest.mark.parametrize("argv", [("task", "cancel", "1"), ("stream", "1"), ("cost",)])
def test_task_commands_load_the_store_but_no_config_models_or_tmux(argv: tuple[str, ...]) -> None:
    assert loaded("task", "new", "a task", "--agent", "shell") >= STORE
    if argv[0] == "stream":
        loaded("task", "cancel", "1")  # so that the stream ends
    names = loaded(*argv)
    assert names >= STORE
    assert names & HEAVY == set()

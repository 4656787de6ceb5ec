"""The `orch` command line on its own, as a subprocess: init, doctor, version, help, exit codes, config errors,
JSON times, pipes closed early and missing chat extras."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Attempt, NewTask

from tests.conftest import make_repo

ORCH = str(Path(sys.executable).parent / "orch")


def orch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_version() -> None:
    result = orch("version")
    assert (result.returncode, result.stdout) == (0, "orch 0.1.0\n")


def test_init_registers_a_checkout_and_writes_config(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    refused = orch("init", cwd=plain)
    assert (refused.returncode, refused.stderr) == (1, f"orch: {plain} is not a git repository\n")
    repo = make_repo(tmp_path / "myapp")
    result = orch("init", cwd=repo)
    assert result.returncode == 0, result.stderr
    home = Path(tmp_path / "home")
    assert (home / "config.yml").read_text() == (Path(__file__).parents[2] / "config.example.yml").read_text()
    created = orch("task", "new", "in my app", "--project", "myapp", "--agent", "shell")
    assert created.returncode == 0
    [task] = json.loads(orch("task", "list", "--json").stdout)
    assert task["project"] == "myapp"
    unknown = orch("task", "new", "elsewhere", "--project", "nope")
    assert unknown.returncode == 1 and unknown.stderr == "orch: project 'nope' not found (known: myapp)\n"


def test_doctor_reports_what_is_there_and_what_is_missing(tmp_path: Path) -> None:
    result = orch("doctor")  # its exit status: tests/e2e/test_doctor.py
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok  tmux: ") for line in lines)
    assert any(line.startswith("ok  git: ") for line in lines)
    assert "NO  router: no ANTHROPIC_API_KEY: tasks are routed round-robin" in lines


@pytest.mark.parametrize(("config", "message"), [
    ("workflow:\n  max_attempts: three\n",
     "orch: config.yml: workflow.max_attempts: Input should be a valid integer, unable to parse string as an "
     "integer (got 'three')\n"),
    ("transports:\n  telegram:\n    tokn: x\n", "orch: config.yml: transports.telegram.tokn: unknown key\n"),
])
def test_malformed_config_is_one_line_for_every_command_that_reads_it(tmp_path: Path, config: str,
                                                                     message: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # as orch makes it: an open one would be tightened, with a warning
    (home / "config.yml").write_text(config)
    for args in (("project", "list"), ("task", "new", "x", "--project", "app"), ("serve",)):
        result = orch(*args)
        assert (result.returncode, result.stderr) == (1, message), args
    # Reading tasks does not need config.yml, so it neither loads nor judges it.
    assert orch("task", "list").returncode == 0
    doctor = orch("doctor")
    assert doctor.returncode == 1 and f"NO  config: {message.removeprefix('orch: ').strip()}" in doctor.stdout


def test_usage_errors_exit_2() -> None:
    assert orch("task").returncode == 2
    assert orch("task", "new").returncode == 2
    assert orch("task", "new", "x", "--agent", "gpt").returncode == 2


ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def in_store(home: Path, change: Callable[[SqliteStore], Awaitable[None]]) -> None:
    """Set up what only `orch serve` would write (attempts, fired jobs), straight in the test's store."""

    async def run() -> None:
        store = await SqliteStore.open(OrchHome(home).db_file)
        try:
            await change(store)
        finally:
            await store.close()

    asyncio.run(run())


def test_version_flag_and_command_agree() -> None:
    assert orch("--version").returncode == 0
    assert orch("--version").stdout == orch("version").stdout == "orch 0.1.0\n"


def test_no_arguments_prints_the_help_and_succeeds() -> None:
    bare, asked = orch(), orch("--help")
    assert (bare.returncode, asked.returncode) == (0, 0)
    assert bare.stdout == asked.stdout
    assert bare.stdout.startswith("usage: orch ")
    assert "  orch task new " in bare.stdout and "Exit status: 0 success, 1 a user error" in bare.stdout
    task_help = orch("task", "show", "--help")
    assert task_help.returncode == 0 and "example" in task_help.stdout and "  orch task show 7" in task_help.stdout


@pytest.mark.parametrize("args", [("frobnicate",), ("task", "list", "--status", "sleeping"), ("--verbose",),
                                  ("task", "show")])
def test_bad_usage_exits_2_with_the_reason_last(args: tuple[str, ...]) -> None:
    result = orch(*args)
    assert (result.returncode, result.stdout) == (2, ""), args
    assert re.fullmatch(r"orch( task( show| list)?)?: error: .+", result.stderr.splitlines()[-1]), result.stderr


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def many_tasks(store: SqliteStore) -> None:
        for number in range(300):
            await store.create_task(NewTask(title=f"task {number} with a title long enough to fill a pipe"))

    in_store(home, many_tasks)
    for args in (("task", "list"), ("task", "list", "--json"), ("--help",)):
        # The reader is gone before orch writes a byte: every write fails with EPIPE.
        reader, writer = os.pipe()
        os.close(reader)
        with os.fdopen(writer, "wb") as stdout:
            result = subprocess.run([ORCH, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)
        assert (result.returncode, result.stderr) == (0, ""), args
    # And as people type it: ~200 KB of JSON into `head`, which leaves after its first line.
    piped = subprocess.run(["bash", "-c", f"{ORCH} task list --json | head -1; echo \"exit ${{PIPESTATUS[0]}}\""],
                           capture_output=True, text=True, timeout=60)
    assert (piped.stdout, piped.stderr) == ("[\nexit 0\n", "")


def test_times_in_json_are_iso_8601(tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = time.time()
    assert orch("task", "new", "timed", "--agent", "shell").returncode == 0
    assert orch("job", "add", "@daily", "nightly").returncode == 0
    started, finished, slot = 1_740_000_000.25, 1_740_000_042.75, 1_740_009_600.0

    async def history(store: SqliteStore) -> None:
        attempt = Attempt(task_id=1, number=1, agent="shell", model=None, started_at=started)
        await store.add_attempt(attempt)
        await store.finish_attempt(replace(attempt, finished_at=finished, exit_code=0, outcome="done"))
        [state] = (await store.list_job_states()).values()
        assert await store.claim_job_slot(1, state.handled_until, slot, slot)

    in_store(home, history)
    [listed] = json.loads(orch("task", "list", "--json").stdout)
    shown = json.loads(orch("task", "show", "1", "--json").stdout)
    [job] = json.loads(orch("job", "list", "--json").stdout)
    [attempt] = shown["attempts_detail"]
    times = {"created_at": listed["created_at"], "updated_at": shown["updated_at"], "started_at": attempt["started_at"],
             "finished_at": attempt["finished_at"], "next_run": job["next_run"], "last_run": job["last_run"]}
    for name, text in times.items():
        assert ISO.fullmatch(text), (name, text)
    assert abs(datetime.fromisoformat(times["created_at"]).timestamp() - before) < 60
    assert datetime.fromisoformat(times["started_at"]).timestamp() == int(started)
    assert datetime.fromisoformat(times["finished_at"]).timestamp() == int(finished)
    assert datetime.fromisoformat(times["last_run"]).timestamp() == slot
    assert datetime.fromisoformat(times["next_run"]).timestamp() > time.time()


@pytest.mark.parametrize(("blocked", "config", "message"), [
    (("telegram",), "transports:\n  telegram:\n    enabled: true\n    token: x\n",
     "orch: transports.telegram needs python-telegram-bot: pip install 'orch-agents[telegram]'\n"),
    (("discord",), "transports:\n  discord:\n    enabled: true\n    token: x\n",
     "orch: transports.discord needs discord.py: pip install 'orch-agents[discord]'\n"),
    (("telegram", "discord"),
     "transports:\n  telegram:\n    enabled: true\n    token: x\n  discord:\n    enabled: true\n    token: y\n",
     "orch: transports.telegram needs python-telegram-bot, transports.discord needs discord.py: "
     "pip install 'orch-agents[telegram,discord]'\n"),
])
def test_a_missing_chat_extra_names_the_install(tmp_path: Path, blocked: tuple[str, ...], config: str,
                                                message: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text(config)
    blockers = "; ".join(f"sys.modules[{name!r}] = None" for name in blocked)
    code = f"import sys; {blockers}; from orch.transports.cli.main import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "serve"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", message)
    assert sorted(path.name for path in home.iterdir()) == ["config.yml"]  # nothing was started


def test_doctor_names_a_missing_chat_library(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yml").write_text("transports:\n  telegram:\n    enabled: true\n    token: x\n")
    code = "import sys; sys.modules['telegram'] = None; from orch.transports.cli.main import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "doctor"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert ("NO  transports.telegram needs python-telegram-bot: pip install 'orch-agents[telegram]'"
            in result.stdout.splitlines())
    assert "ok  telegram: token set" in result.stdout.splitlines()

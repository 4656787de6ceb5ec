"""ORCH_HOME is its user's alone: under the usual umask 022, `orch serve` and the CLI create the home 0700 and
every file they (and an attempt's programs) write there 0600, folders 0700; a home left open is tightened at the
next start, with one line saying so, and only once."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from orch.core.home import OrchHome

from tests.conftest import make_repo

ORCH = str(Path(sys.executable).parent / "orch")
UMASK = 0o022
# Where orch keeps git's data (clones, worktrees): private through the home's own mode, not file by file.
GIT_DATA = ("projects", "worktrees")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    yield folder
    subprocess.run(["tmux", "-L", OrchHome(folder).tmux_socket_name, "kill-server"], capture_output=True)


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "ORCH_HOME": str(home)}


def orch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORCH, *args], env=env(home), capture_output=True, text=True, timeout=60, umask=UMASK,
                          stdin=subprocess.DEVNULL)


def open_to_others(home: Path) -> dict[str, str]:
    """Every path under the home (git's data aside) that its group or others may use, with its mode."""
    found: dict[str, str] = {}
    for folder, folders, files in os.walk(home):
        if Path(folder) == home:
            folders[:] = [name for name in folders if name not in GIT_DATA]
        for path in (Path(folder), *(Path(folder) / name for name in files)):
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                found[str(path.relative_to(home))] = oct(mode)
    return found


async def test_a_new_home_and_everything_orch_writes_in_it_are_private(home: Path) -> None:
    added = await asyncio.to_thread(orch, home, "job", "add", "@yearly", "new year", "--label", "agent:shell")
    assert added.returncode == 0, added.stderr
    process = await asyncio.create_subprocess_exec(
        ORCH, "serve", env=env(home), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, umask=UMASK)
    assert process.stdin is not None and process.stdout is not None
    try:
        body = """echo hello; echo '{"summary": "said hello"}' > "$ORCH_RESULT_FILE"; echo x > made.txt"""
        process.stdin.write(f'/task new say hello agent:shell body:"{body}"\n'.encode())
        await process.stdin.drain()
        while not (line := await asyncio.wait_for(process.stdout.readline(), 60)).startswith(b"task 1 done"):
            assert line, "orch serve ended"
        # While serve runs, SQLite's -wal and -shm exist beside orch.db.
        attempt = Path(".orch/attempts/1/1")
        expected = {"orch.db", "orch.db-wal", "orch.db-shm", "jobs.yml", ".orch/orch.log", ".orch/orch.pid",
                    ".orch/jobs.lock", ".orch/1.json", *(str(attempt / name) for name in (
                        "prompt.md", "command.txt", "run.sh", "command.sh", "pane.log", "exit_code", "result.json",
                        "nonce", "files_changed.txt"))}
        present = {str(path.relative_to(home)) for path in home.rglob("*")}
        assert expected <= present, expected - present
        assert open_to_others(home) == {}
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "orch.db").stat().st_mode) == 0o600
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        assert b"open to other users" not in stderr
    finally:
        if process.returncode is None:  # a failed check must not leave serve running
            process.kill()
            await process.wait()


def test_an_open_home_is_tightened_on_start_saying_so_once(home: Path) -> None:
    attempt = home / ".orch" / "attempts" / "1" / "1"
    attempt.mkdir(parents=True)
    (attempt / "pane.log").write_text("a secret an agent printed\n")
    (home / "config.yml").write_text("transports:\n  telegram:\n    token: 123:abc\n")
    (home / ".orch" / "orch.log").write_text("old log\n")
    for path in (home, home / ".orch", attempt.parent.parent, attempt.parent, attempt):
        path.chmod(0o755)
    for path in (attempt / "pane.log", home / "config.yml", home / ".orch" / "orch.log"):
        path.chmod(0o644)
    first = orch(home, "task", "list")
    assert first.returncode == 0, first.stderr
    assert first.stderr == f"ORCH_HOME {home} was open to other users; made it private (folders 0700, files 0600)\n"
    assert open_to_others(home) == {}
    assert stat.S_IMODE((attempt / "pane.log").stat().st_mode) == 0o600
    assert stat.S_IMODE(attempt.stat().st_mode) == 0o700
    again = orch(home, "task", "list")
    assert (again.returncode, again.stderr) == (0, "")


def test_a_config_written_open_inside_a_private_home_is_closed_quietly(home: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app")
    env_home = env(home)
    initialized = subprocess.run([ORCH, "init"], cwd=repo, env=env_home, capture_output=True, text=True, timeout=60,
                                 umask=UMASK)
    assert initialized.returncode == 0, initialized.stderr
    # The next command that opens the home closes the file, without a warning: nobody else could reach it.
    created = orch(home, "task", "new", "after init")
    assert (created.returncode, created.stderr) == (0, "")
    assert open_to_others(home) == {}
    assert stat.S_IMODE((home / "config.yml").stat().st_mode) == 0o600

"""TmuxRunner on a real tmux server of the test's own: the wrapper script (every byte captured, the exit file,
the end marker, then waiting to be killed), argv and environment passed as they are, `paste` typing text
literally, `kill` and `is_alive`, and a session name that already exists."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.terminal.capture import EXIT_OSC_PREFIX
from orch.core.terminal.tmux import PaneProcess, StartedPane, TmuxRunner

from tests.conftest import wait_until

# Reads one line from the pane's terminal and prints it back, so a test sees exactly what arrived.
ECHO_ONE_LINE = ["sh", "-c", "stty -echo; IFS= read -r line; printf 'got:%s|\\n' \"$line\""]


@pytest.fixture
def runner(home: OrchHome) -> TmuxRunner:
    return TmuxRunner(home)


def pane(home: OrchHome, tmp_path: Path, argv: list[str], *, session: str = "orch-1", attempt: int = 1,
         env: dict[str, str] | None = None, stdin_file: Path | None = None,
         unset_env: tuple[str, ...] = ()) -> PaneProcess:
    attempt_dir = home.attempt_dir(1, attempt)
    attempt_dir.mkdir(parents=True, exist_ok=True)
    cwd = tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    return PaneProcess(session, cwd, argv, env or {}, attempt_dir, stdin_file, unset_env)


def marker(started: StartedPane, status: int) -> bytes:
    return f"\x1b]{EXIT_OSC_PREFIX}{started.nonce};{status}\x07".encode()


async def waiting_for_input(runner: TmuxRunner, session: str) -> bool:
    """Whether ECHO_ONE_LINE is about to read: its `stty -echo` has run once the pane's terminal does not echo."""
    tty = subprocess.run(["tmux", "-L", runner.socket_name, "display-message", "-p", "-t", session, "#{pane_tty}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return "-echo" in subprocess.run(["stty", "-a", "-F", tty], capture_output=True, text=True).stdout.split()


def running(pid: int) -> bool:
    """Whether the process runs: a zombie has ended, whenever its new parent gets round to reaping it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        # The state is the first field after the parenthesised command name.
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return False


async def wait_for_marker(started: StartedPane, status: int) -> bytes:
    """The pane's captured bytes once the wrapper has printed its end marker with `status`."""
    async def ended() -> bool:
        return marker(started, status) in started.pipe_file.read_bytes()

    await wait_until(ended, what=f"the end marker with status {status}")
    return started.pipe_file.read_bytes()


def printed_lines(captured: bytes, started: StartedPane) -> list[str]:
    """What the program printed: the captured text before the end marker, as lines."""
    before, _, _ = captured.partition(marker(started, 0))
    return before.decode().replace("\r\n", "\n").splitlines()


async def test_the_wrapper_captures_the_output_records_the_exit_code_and_stays(
    home: OrchHome, tmp_path: Path, runner: TmuxRunner
) -> None:
    process = pane(home, tmp_path, ["sh", "-c", "echo first; echo second; exit 3"])
    started = await runner.start(process)
    assert started.pipe_file == process.attempt_dir / "pane.log"
    assert started.exit_file == process.attempt_dir / "exit_code"
    assert (process.attempt_dir / "command.txt").read_text() == "sh -c 'echo first; echo second; exit 3'\n"

    captured = await wait_for_marker(started, 3)
    # The first line was printed before anything else could happen: pipe-pane was attached before it ran.
    output, _, after = captured.partition(marker(started, 3))
    assert output.decode().split("\r\n")[:2] == ["first", "second"]
    assert after == b""
    assert started.exit_file.read_text() == "3\n"
    # The marker is printed after the exit file is written, and the pane waits to be killed.
    assert await runner.is_alive(process.session)
    await runner.kill(process.session)
    assert not await runner.is_alive(process.session)


async def test_each_start_has_its_own_nonce(home: OrchHome, tmp_path: Path, runner: TmuxRunner) -> None:
    first = await runner.start(pane(home, tmp_path, ["true"], session="orch-1", attempt=1))
    second = await runner.start(pane(home, tmp_path, ["true"], session="orch-2", attempt=2))
    assert first.nonce != second.nonce
    await wait_for_marker(first, 0)
    await wait_for_marker(second, 0)


async def test_argv_cwd_environment_and_stdin_reach_the_program_as_they_are(
    home: OrchHome, tmp_path: Path, runner: TmuxRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tmux server starts with this test's environment, so the agent would inherit SECRET_OF_ORCH.
    monkeypatch.setenv("SECRET_OF_ORCH", "do-not-leak")
    stdin_file = tmp_path / "prompt.txt"
    stdin_file.write_text("from the stdin file\n")
    script = ('printf "%s|\\n" "$@"; pwd; printf "task=%s secret=%s\\n" "$ORCH_TASK_ID" "${SECRET_OF_ORCH-unset}"; '
              'cat')
    argv = ["sh", "-c", script, "sh", "two words", "$(touch injected)", "it's", '"quoted"', "*", ""]
    process = pane(home, tmp_path, argv, env={"ORCH_TASK_ID": "7"}, stdin_file=stdin_file,
                   unset_env=("SECRET_OF_ORCH",))
    started = await runner.start(process)
    captured = await wait_for_marker(started, 0)
    assert printed_lines(captured, started) == [
        "two words|", "$(touch injected)|", "it's|", '"quoted"|', "*|", "|",
        str(process.cwd), "task=7 secret=unset", "from the stdin file",
    ]
    assert not (process.cwd / "injected").exists()
    assert shlex.split((process.attempt_dir / "command.txt").read_text()) == argv


async def test_paste_types_text_literally_then_enter(home: OrchHome, tmp_path: Path, runner: TmuxRunner) -> None:
    process = pane(home, tmp_path, ECHO_ONE_LINE)
    started = await runner.start(process)

    await wait_until(lambda: waiting_for_input(runner, process.session), what="the program to read its terminal")
    # Key names, shell syntax and quotes: all of it arrives as text, nothing is run or pressed.
    text = "C-c Enter Escape $(touch injected) `id` 'single' \"double\" ~ * 漢字"
    await runner.paste(process.session, text)
    captured = await wait_for_marker(started, 0)
    assert printed_lines(captured, started) == [f"got:{text}|"]
    assert not (process.cwd / "injected").exists()


async def test_paste_leaves_out_control_characters(home: OrchHome, tmp_path: Path, runner: TmuxRunner) -> None:
    process = pane(home, tmp_path, ECHO_ONE_LINE)
    started = await runner.start(process)
    await wait_until(lambda: waiting_for_input(runner, process.session), what="the program to read its terminal")
    # Typed as they are, ^C would interrupt the agent, ^Z stop it, ^D end its input, ^U erase the line, and an
    # escape sequence (here the end of a bracketed paste) would turn what follows into keys.
    await runner.paste(process.session, "stop\x03 here\x1a, go\x04 on\x15 after\x1b[201~ this\r\x7f\x9b.")
    captured = await wait_for_marker(started, 0)
    assert printed_lines(captured, started) == ["got:stop here, go on after[201~ this.|"]


async def test_paste_into_a_session_that_is_not_running_is_a_user_error(home: OrchHome, runner: TmuxRunner) -> None:
    with pytest.raises(UserError, match="no running agent"):
        await runner.paste("orch-404", "hello")


async def test_kill_and_is_alive(home: OrchHome, tmp_path: Path, runner: TmuxRunner) -> None:
    # No tmux server runs yet: nothing is alive, and killing nothing is fine.
    assert not await runner.is_alive("orch-1")
    await runner.kill("orch-1")

    process = pane(home, tmp_path, ["sh", "-c", "exec sleep 600"])
    await runner.start(process)
    other = await runner.start(pane(home, tmp_path, ["true"], session="orch-2", attempt=2))
    assert await runner.is_alive("orch-1")
    assert not await runner.is_alive("orch-3")
    # A name is matched whole, never as a prefix of another session's.
    assert not await runner.is_alive("orch-")

    await runner.kill("orch-1")
    assert not await runner.is_alive("orch-1")
    assert await runner.is_alive("orch-2")
    await runner.kill("orch-1")
    await wait_for_marker(other, 0)


async def test_a_session_name_that_exists_is_replaced(home: OrchHome, tmp_path: Path, runner: TmuxRunner) -> None:
    first = pane(home, tmp_path, ["sh", "-c", "echo $$ > first.pid; exec sleep 600"], attempt=1)
    await runner.start(first)
    pid_file = first.cwd / "first.pid"

    async def first_running() -> bool:
        return pid_file.exists() and pid_file.read_text().strip() != ""

    await wait_until(first_running, what="the first program's pid")
    first_pid = int(pid_file.read_text())

    second = await runner.start(pane(home, tmp_path, ["echo", "second"], attempt=2))
    captured = await wait_for_marker(second, 0)
    assert printed_lines(captured, second) == ["second"]
    sessions = subprocess.run(["tmux", "-L", runner.socket_name, "list-sessions", "-F", "#{session_name}"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert sessions == ["orch-1"]

    async def first_gone() -> bool:
        return not running(first_pid)

    # Killing its session hung up its terminal, and the first program with it.
    await wait_until(first_gone, what="the first program to end")

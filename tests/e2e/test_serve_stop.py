"""Stopping `orch serve` never aborts: Ctrl-C in a terminal, Ctrl-D there, SIGTERM or SIGINT with stdin a pipe, and a
pipe's end followed by SIGTERM each end it with exit 0 and no "Fatal Python error" — many times over, because the
abort this guards against (a thread blocked in a buffered read of stdin at interpreter shutdown) was intermittent.
Running agents' tmux sessions outlive the stop, and the next serve streams on from where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import termios
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from orch.core.home import OrchHome

ORCH = str(Path(sys.executable).parent / "orch")
ROUNDS = 3
WAIT = 60.0


class Terminal:
    """`orch serve` with a pseudo-terminal as its controlling terminal and stdin/stdout/stderr, as in a shell.

    Typing the interrupt character makes the terminal's line discipline send SIGINT to the foreground process
    group, exactly as Ctrl-C does; the end-of-file character ends a read the way Ctrl-D does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.output = bytearray()
        self._grown = asyncio.Event()

        def controlling_terminal() -> None:
            # After start_new_session's setsid(): make the pty this new session's controlling terminal.
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen([ORCH, "serve"], env=env, stdin=slave, stdout=slave, stderr=slave,
                                        start_new_session=True, preexec_fn=controlling_terminal)
        os.close(slave)
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.output += data
        self._grown.set()

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    async def wait_output(self, pattern: bytes) -> None:
        try:
            async with asyncio.timeout(WAIT):
                while not re.search(pattern, self.output):
                    self._grown.clear()
                    await self._grown.wait()
        except TimeoutError:
            shown = self.output.decode(errors="replace")
            raise AssertionError(f"no {pattern!r} on the terminal; it shows:\n{shown}") from None


    async def wait_exit(self) -> int:
        code = await asyncio.wait_for(asyncio.to_thread(self.process.wait), WAIT)
        await asyncio.sleep(0)  # let the reader take what the last write left
        return code

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    yield {**os.environ, "ORCH_HOME": str(home), "TERM": "xterm"}
    subprocess.run(["tmux", "-L", OrchHome(home).tmux_socket_name, "kill-server"], capture_output=True)


@contextlib.asynccontextmanager
async def terminal(env: dict[str, str]) -> AsyncIterator[Terminal]:
    opened = Terminal(env)
    try:
        yield opened
    finally:
        opened.close()


async def _ready(term: Terminal) -> None:
    term.type(b"/status\n")
    await term.wait_output(rb"engine: ")


@pytest.mark.parametrize(("key", "name"), [(termios.VINTR, "ctrl-c"), (termios.VEOF, "ctrl-d")],
                         ids=["ctrl-c", "ctrl-d"])
async def test_ctrl_c_and_ctrl_d_in_a_terminal_stop_serve_cleanly(env: dict[str, str], key: int, name: str) -> None:
    for _ in range(ROUNDS):
        async with terminal(env) as term:
            await _ready(term)
            control = termios.tcgetattr(term.master)[6][key]
            term.type(control)
            code = await term.wait_exit()
            output = term.output.decode(errors="replace")
            assert code == 0, f"{name}: exit {code}\n{output}"
            assert "Fatal Python error" not in output and "Traceback" not in output, output


async def _pipe_serve(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(ORCH, "serve", env=env, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/status\n")
    await process.stdin.drain()
    while (line := await asyncio.wait_for(process.stdout.readline(), WAIT)).startswith(b"orch serve ready") \
            or line.startswith(b"type commands here"):
        pass
    assert line.startswith(b"engine: "), line
    return process


def _close_stdin(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.close()


STOPS: dict[str, Callable[[asyncio.subprocess.Process], None]] = {
    "sigterm": lambda process: process.send_signal(signal.SIGTERM),
    "sigint": lambda process: process.send_signal(signal.SIGINT),
    "eof then sigterm": lambda process: (_close_stdin(process), process.send_signal(signal.SIGTERM))[-1],
}


@pytest.mark.parametrize("stop", list(STOPS))
async def test_signals_with_stdin_a_pipe_stop_serve_cleanly(env: dict[str, str], stop: str) -> None:
    for _ in range(ROUNDS):
        process = await _pipe_serve(env)
        STOPS[stop](process)
        _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
        assert process.returncode == 0, f"{stop}: exit {process.returncode}\n{stderr.decode(errors='replace')}"
        assert b"Fatal Python error" not in stderr and b"Traceback" not in stderr, stderr.decode(errors="replace")


async def test_an_agent_outlives_ctrl_c_and_streams_on_at_the_next_start(env: dict[str, str]) -> None:
    body = "for i in $(seq 1 30); do echo line $i; sleep 0.1; done"
    async with terminal(env) as term:
        await _ready(term)
        term.type(f'/task new count agent:shell body:"{body}"\n'.encode())
        await term.wait_output(rb"\[1\] line 3\r\n")
        term.type(termios.tcgetattr(term.master)[6][termios.VINTR])
        assert await term.wait_exit() == 0, term.output.decode(errors="replace")
        before = re.findall(rb"\[1\] line (\d+)\r\n", term.output)
    socket = OrchHome(Path(env["ORCH_HOME"])).tmux_socket_name
    sessions = subprocess.run(["tmux", "-L", socket, "list-sessions", "-F", "#S"], capture_output=True, text=True)
    assert "orch-1" in sessions.stdout.split(), "the agent's session ended with serve"
    # The terminal still follows the task: the next serve prints what came after, once, and the end.
    async with terminal(env) as term:
        await term.wait_output(rb"task 1 done")
        after = re.findall(rb"\[1\] line (\d+)\r\n", term.output)
        assert [int(n) for n in before + after] == list(range(1, 31))
        term.type(termios.tcgetattr(term.master)[6][termios.VINTR])
        assert await term.wait_exit() == 0

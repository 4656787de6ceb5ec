"""Agents run in tmux sessions on orch's own tmux server, one session per task.

The pane runs a small wrapper script that orch writes: it waits until orch has attached `pipe-pane` (so not a
byte is missed), runs the agent's argv (every word shell-quoted; the task's text is in files or argv, never
typed as shell text), then records the exit code, prints the end marker (see core.capture) and waits to be
killed. It must not exit by itself: when a pane's process exits, tmux closes the pty as soon as it looks empty,
and under load the kernel may still hold the last kilobytes in transit (measured: 2 of 40 runs of `seq 1 20000`
lost their tail). Orch kills the session once it has read the marker, so everything before it has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import libtmux
from libtmux.exc import LibTmuxException
from orch.core.errors import OrchError, UserError
from orch.core.home import OrchHome, touch_private, write_private
from orch.core.terminal.capture import exit_marker

PANE_WIDTH = 200
PANE_HEIGHT = 50
# What a terminal acts on rather than shows, left out of pasted text: the pty turns ^C into SIGINT for the agent
# (^Z stops it, ^\ quits it), ^D and ^U edit its input line, and ESC could end a bracketed paste early so that
# the rest is read as keys. Tabs and newlines stay.
_NOT_TYPED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class PaneProcess:
    """What the runner needs to start one attempt's process."""

    session: str
    cwd: Path
    argv: list[str]
    env: dict[str, str]
    attempt_dir: Path
    stdin_file: Path | None = None  # None: the pane's terminal, so `/say` reaches the program
    unset_env: tuple[str, ...] = ()  # variables the agent must not inherit from orch's own environment
    # The project's setup command, run first (its output is the pane's too); `setup_done` is touched when it
    # succeeds, `setup_failed` gets its exit status when it does not, and then the agent does not run.
    setup: str | None = None
    setup_done: Path | None = None

    @property
    def setup_failed(self) -> Path:
        return self.attempt_dir / "setup_failed"


@dataclass(frozen=True)
class StartedPane:
    session: str
    pipe_file: Path
    exit_file: Path
    nonce: str


def session_name(task_id: int) -> str:
    return f"orch-{task_id}"


class TmuxRunner:
    def __init__(self, home: OrchHome) -> None:
        self.socket_name = home.tmux_socket_name
        self.server = libtmux.Server(socket_name=self.socket_name, config_file="/dev/null")

    def _tmux(self, *args: str, input_text: str | None = None) -> None:
        result = subprocess.run(["tmux", "-L", self.socket_name, *args], input=input_text, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise OrchError(f"tmux {args[0]} failed: {result.stderr.strip()}")

    def wrapper_script(self, process: PaneProcess, nonce: str, go_channel: str) -> str:
        stdin = f" < {shlex.quote(str(process.stdin_file))}" if process.stdin_file else ""
        exit_file = shlex.quote(str(process.attempt_dir / "exit_code"))
        agent = [f"{shlex.join(process.argv)}{stdin}", "status=$?"]
        return "\n".join([
            "#!/bin/sh",
            # What the attempt's programs write in its folder (exit code, result, raw output) is private.
            "umask 077",
            f"tmux -L {shlex.quote(self.socket_name)} wait-for {shlex.quote(go_channel)}",
            f"cd {shlex.quote(str(process.cwd))} || exit 97",
            *([f"unset {' '.join(shlex.quote(name) for name in process.unset_env)}"] if process.unset_env else []),
            *(self._setup_then(process, agent) if process.setup else agent),
            f'echo "$status" > {exit_file}',
            exit_marker(nonce, '"$status"'),
            f"exec tmux -L {shlex.quote(self.socket_name)} wait-for {shlex.quote(go_channel + '-never')}",
            "",
        ])

    @staticmethod
    def _setup_then(process: PaneProcess, agent: list[str]) -> list[str]:
        assert process.setup is not None
        done = f"touch {shlex.quote(str(process.setup_done))}" if process.setup_done else ":"
        return [
            f"echo {shlex.quote('$ ' + process.setup)}",
            f"sh -c {shlex.quote(process.setup)}",
            "status=$?",
            'if [ "$status" -ne 0 ]; then',
            '    echo "orch: the project\'s setup command failed (exit $status); the agent did not run"',
            f'    echo "$status" > {shlex.quote(str(process.setup_failed))}',
            "else",
            f"    {done}",
            *(f"    {line}" for line in agent),
            "fi",
        ]

    def start_sync(self, process: PaneProcess) -> StartedPane:
        nonce = secrets.token_hex(8)
        go_channel = f"{process.session}-go-{nonce}"
        script = process.attempt_dir / "run.sh"
        write_private(script, self.wrapper_script(process, nonce, go_channel))
        write_private(process.attempt_dir / "command.txt", shlex.join(process.argv) + "\n")
        pipe_file = process.attempt_dir / "pane.log"
        touch_private(pipe_file)  # `cat >>` appends to it and keeps its mode
        if self.is_alive_sync(process.session):
            self.kill_sync(process.session)
        session = self._new_session(process, script)
        target = session.session_id or process.session
        self._tmux("pipe-pane", "-o", "-t", target, f"cat >> {shlex.quote(str(pipe_file))}")
        self._tmux("wait-for", "-S", go_channel)
        return StartedPane(process.session, pipe_file, process.attempt_dir / "exit_code", nonce)

    def _new_session(self, process: PaneProcess, script: Path) -> libtmux.Session:
        def create() -> libtmux.Session:
            return self.server.new_session(
                session_name=process.session, start_directory=str(process.cwd),
                window_command=f"sh {shlex.quote(str(script))}", environment=process.env,
                x=PANE_WIDTH, y=PANE_HEIGHT,
            )

        try:
            return create()
        except LibTmuxException as exc:
            # When the last session of the server ends just as a new one is created, tmux answers "server exited
            # unexpectedly": the server was on its way out. A second try starts a new server.
            if "server exited unexpectedly" not in str(exc):
                raise
            return create()

    async def start(self, process: PaneProcess) -> StartedPane:
        return await asyncio.to_thread(self.start_sync, process)

    def is_alive_sync(self, session: str) -> bool:
        try:
            return bool(self.server.has_session(session))
        except LibTmuxException:
            return False

    async def is_alive(self, session: str) -> bool:
        return await asyncio.to_thread(self.is_alive_sync, session)

    def kill_sync(self, session: str) -> None:
        if self.is_alive_sync(session):
            with contextlib.suppress(LibTmuxException):  # it may have ended by itself meanwhile
                self.server.kill_session(session)

    async def kill(self, session: str) -> None:
        await asyncio.to_thread(self.kill_sync, session)

    def paste_sync(self, session: str, text: str) -> None:
        """Type `text` into the pane as a paste, then Enter. Key names and control characters are not read."""
        if not self.is_alive_sync(session):
            raise UserError("that task has no running agent to type into")
        buffer = f"orch-say-{secrets.token_hex(4)}"
        self._tmux("load-buffer", "-b", buffer, "-", input_text=_NOT_TYPED.sub("", text))
        self._tmux("paste-buffer", "-d", "-p", "-r", "-b", buffer, "-t", session)
        self._tmux("send-keys", "-t", session, "Enter")

    async def paste(self, session: str, text: str) -> None:
        await asyncio.to_thread(self.paste_sync, session, text)

"""`orch serve` as a user runs it: a subprocess with the stdout transport on pipes, and the CLI beside it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.transports.console import TERMINAL_HINT

ORCH = str(Path(sys.executable).parent / "orch")
# How the done line says to look at the branch (the worktree path varies).
LOOK = r" \(look: orch task diff 1, git -C \S+ log\)"


class Serve:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.greeting: list[str] = []

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def read_line(self, timeout: float = 30.0) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, "orch serve closed its stdout"
        return raw.decode().rstrip("\n")

    async def started(self) -> list[str]:
        """The lines serve says before the terminal takes commands: the ready line, then the hint."""
        self.greeting = await self.read_until(re.escape(TERMINAL_HINT))
        return self.greeting

    async def read_until(self, pattern: str, timeout: float = 30.0) -> list[str]:
        lines: list[str] = []
        while not re.fullmatch(pattern, lines[-1] if lines else ""):
            lines.append(await self.read_line(timeout))
        return lines


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ORCH_HOME": str(tmp_path / "home")}


@pytest.fixture
async def serve(env: dict[str, str]) -> AsyncIterator[Serve]:
    process = await asyncio.create_subprocess_exec(
        ORCH, "serve", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    started = Serve(process)
    await started.started()
    yield started
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
    home = Path(env["ORCH_HOME"])
    subprocess.run(["tmux", "-L", OrchHome(home).tmux_socket_name, "kill-server"], capture_output=True)


async def orch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [ORCH, *args], env=env, capture_output=True, text=True,
                                   timeout=60)


async def test_serve_says_once_that_it_is_ready_and_where_to_type(serve: Serve, env: dict[str, str]) -> None:
    ready, hint = serve.greeting
    found = re.fullmatch(r"orch serve ready: home (.+); projects: none \(tasks run in a scratch repository\); "
                         r"transports: stdout; agents: (.+); routing: round-robin \(no ANTHROPIC_API_KEY\)", ready)
    assert found is not None, ready
    assert found.group(1) == env["ORCH_HOME"]
    assert found.group(2).split(", ")[-1] == "shell"
    assert hint == TERMINAL_HINT
    # Round-robin without a key is the design: said in the ready line, not as a warning, and not per task.
    await serve.send('/task new one agent:shell body:"true"')
    await serve.read_until(r"task 1 done.*")
    serve.process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(serve.process.communicate(), 20)
    assert b"ANTHROPIC_API_KEY" not in stderr
    log = (Path(env["ORCH_HOME"]) / ".orch" / "orch.log").read_text()
    assert log.count("ANTHROPIC_API_KEY") == 2, log  # the engine's routing line, and the ready line


async def test_task_from_stdin_streams_lines_and_commits(serve: Serve, env: dict[str, str]) -> None:
    await serve.send('/task new count to three agent:shell body:"for i in 1 2 3; do echo line $i; sleep 0.2; done"')
    lines = await serve.read_until(r"task 1 (done|needs_review).*")
    assert lines[:4] == ["task 1 created: count to three (new, project scratch)", "[1] line 1", "[1] line 2",
                         "[1] line 3"]
    assert re.fullmatch(r"task 1 done \(shell, \d+\.\d s, no files changed\) on branch orch/1-count-to-three"
                        + LOOK, lines[4])
    assert len(lines) == 5
    worktree = Path(env["ORCH_HOME"]) / "worktrees" / "scratch" / "orch" / "1-count-to-three"
    log = subprocess.run(["git", "log", "--format=%s", "main..orch/1-count-to-three"], cwd=worktree,
                         capture_output=True, text=True, check=True).stdout
    # The body printed but changed no file: no commit is made for an unchanged worktree.
    assert log == ""
    await serve.send("/task new write a file agent:shell body:\"echo hi > hello.txt\"")
    [done] = (await serve.read_until(r"task 2 done.*"))[-1:]
    worktree = Path(env["ORCH_HOME"]) / "worktrees" / "scratch" / "orch" / "2-write-a-file"
    # What the done line says to run works as printed; checking the branch out elsewhere would not.
    assert done.endswith(f"(look: orch task diff 2, git -C {worktree} log)")
    log = subprocess.run(["git", "-C", str(worktree), "log", "--format=%s", "main..HEAD"], capture_output=True,
                         text=True, check=True).stdout
    assert log.strip() == "orch: task 2: write a file"
    checkout = subprocess.run(["git", "checkout", "orch/2-write-a-file"], cwd=worktree.parents[3] / "projects" /
                              "scratch", capture_output=True, text=True)
    assert checkout.returncode != 0 and "already checked out" in checkout.stderr
    diff = await orch(env, "task", "diff", "2")
    assert diff.returncode == 0 and "+hi" in diff.stdout


async def test_burst_through_the_terminal_arrives_once_in_order(serve: Serve) -> None:
    await serve.send('/task new burst agent:shell body:"seq 1 20000"')
    lines = await serve.read_until(r"task 1 (done|needs_review).*", timeout=60)
    assert lines[0] == "task 1 created: burst (new, project scratch)"
    assert lines[1:-1] == [f"[1] {n}" for n in range(1, 20001)]


async def test_bad_input_gets_one_line_and_changes_nothing(serve: Serve, env: dict[str, str]) -> None:
    cases = {
        "/frobnicate": "unknown command /frobnicate — try /help",
        "/task fly": "unknown command /task fly "
                     "(try /task new|list|show|route|unblock|retry|cancel|reply|diff|review|push|pr|merge)",
        "/task new": "missing title: /task new TITLE [body:…] [agent:…] [complexity:…] [project:…] [parent:…] "
                     "[label:…]",
        "/task new x foo:bar": "unknown option foo: (options: body: agent: complexity: project: parent: label:)",
        "/task new x agent:gpt": "agent must be one of claude, codex, opencode, shell, not 'gpt'",
        "/task show 999": "task 999 not found",
        "/task show abc": "task id must be a number, not 'abc'",
        '/task new x body:"unbalanced': 'option body: opens a " that is not closed (close it, or write body:VALUE '
                                        "without quotes)",
        "/task unblock 999": "task 999 not found",
        "/task new x project:nope": "project 'nope' not found (known: none; run `orch init` in a git repository)",
        "hello": "commands start with / — try /help",
    }
    for line, reply in cases.items():
        await serve.send(line)
        assert await serve.read_line() == reply, line
    listed = await orch(env, "task", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


async def test_cli_against_a_running_serve(serve: Serve, env: dict[str, str]) -> None:
    await serve.send("/status")
    assert (await serve.read_line()).startswith("engine: 0 running")
    created = await orch(env, "task", "new", "from the cli", "--agent", "shell", "--body", "echo hello from cli")
    assert created.returncode == 0 and created.stdout == "task 1 created: from the cli (new, project scratch)\n"
    streamed = await orch(env, "stream", "1")
    assert streamed.returncode == 0
    assert streamed.stdout.splitlines()[0] == "hello from cli"
    status_line = streamed.stdout.splitlines()[1]
    assert re.fullmatch(r"task 1 done \(shell, \d+\.\d s, no files changed\) on branch orch/1-from-the-cli"
                        + LOOK, status_line)
    listed = json.loads((await orch(env, "task", "list", "--json")).stdout)
    assert [(t["id"], t["status"], t["agent"], t["branch"]) for t in listed] == [
        (1, "done", "shell", "orch/1-from-the-cli")]
    shown = json.loads((await orch(env, "task", "show", "1", "--json")).stdout)
    for key in ("id", "title", "status", "agent", "model", "complexity", "parent_id", "branch", "attempts"):
        assert key in shown
    assert shown["route"]["decided_by"] == "label"
    text = (await orch(env, "task", "show", "1")).stdout
    assert "status:     done" in text and "branch:     orch/1-from-the-cli" in text
    missing = await orch(env, "task", "show", "42")
    assert (missing.returncode, missing.stderr) == (1, "orch: task 42 not found\n")
    not_blocked = await orch(env, "task", "unblock", "1")
    assert not_blocked.returncode == 1
    assert not_blocked.stderr == "orch: task 1 is done; only blocked or needs_review tasks can be unblocked\n"
    usage = await orch(env, "task", "frob")
    assert usage.returncode == 2


async def test_cancel_and_say_from_the_cli(serve: Serve, env: dict[str, str]) -> None:
    await serve.send('/task new ask agent:shell body:"echo ready; read a; echo got $a; sleep 60"')
    await serve.read_until(r"\[1\] ready")
    shown = (await orch(env, "task", "show", "1")).stdout.splitlines()
    socket = OrchHome(Path(env["ORCH_HOME"])).tmux_socket_name
    assert shown[-1] == f"watch it: tmux -L {socket} attach -t orch-1"
    said = await orch(env, "task", "say", "1", "it's $(rm -rf ~) me")
    assert said.returncode == 0, said.stderr
    assert await serve.read_line() == "[1] it's $(rm -rf ~) me"  # the terminal echoes what was typed
    assert await serve.read_line() == "[1] got it's $(rm -rf ~) me"
    cancelled = await orch(env, "task", "cancel", "1")
    assert cancelled.returncode == 0
    assert await serve.read_line() == "task 1 cancelled"


async def test_eof_on_stdin_keeps_serving_until_sigterm(serve: Serve, env: dict[str, str]) -> None:
    await serve.send("/task new later agent:shell body:\"echo done later\"")
    assert serve.process.stdin is not None
    serve.process.stdin.close()
    lines = await serve.read_until(r"task 1 done.*")
    assert "[1] done later" in lines
    created = await orch(env, "task", "new", "after eof", "--agent", "shell", "--body", "true")
    assert created.returncode == 0
    assert (await orch(env, "stream", "2")).returncode == 0
    serve.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(serve.process.wait(), 20) == 0


async def test_a_scheduled_job_shows_up_in_the_terminal(serve: Serve, env: dict[str, str]) -> None:
    added = await orch(env, "job", "add", "every 1s", "tick", "--body", "echo tick", "--label", "agent:shell")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("job 1 added: every 1s tick (next run ")
    lines = await serve.read_until(r"task 1 done.*")
    assert (await orch(env, "job", "disable", "1")).returncode == 0
    mine = [line for line in lines if "task 1 " in line or line.startswith("[1] ")]
    assert mine[:2] == ["job 1 fired: task 1 created: tick (new, project scratch)", "[1] tick"]
    assert re.fullmatch(r"task 1 done \(shell, \d+\.\d s, no files changed\) on branch orch/1-tick" + LOOK, mine[2])


async def test_a_second_serve_on_the_same_home_is_refused(serve: Serve, env: dict[str, str]) -> None:
    await serve.send("/status")
    await serve.read_line()  # the first serve is up and has written its pid file
    second = await orch(env, "serve")
    assert second.returncode == 1
    assert second.stderr == f"orch: orch serve is already running for {env['ORCH_HOME']} (pid {serve.process.pid})\n"

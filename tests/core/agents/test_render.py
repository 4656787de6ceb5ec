"""orch.core.agents.render: the process that runs an agent CLI in the pane."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.core.agents.conftest import REPO_ROOT

TIMEOUT = 20.0


async def start(tmp_path: Path, script: str, *extra: str) -> asyncio.subprocess.Process:
    child = tmp_path / "child.py"
    child.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orch.core.agents.render", "codex", str(tmp_path / "raw.jsonl"), *extra, "--",
        sys.executable, str(child), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_renders_saves_raw_and_returns_exit_code(tmp_path: Path) -> None:
    events = [{"type": "thread.started"}, {"type": "item.completed", "item": {"type": "agent_message",
                                                                              "text": "héllo\nworld"}}]
    script = ("import sys, os\n"
              f"for line in {[json.dumps(event) for event in events]!r}: print(line, flush=True)\n"
              "print('plain ' + sys.stdin.read().strip() + ' ' + os.environ['PWD'], flush=True)\n"
              "sys.stderr.write('to stderr\\n')\n"
              "sys.exit(3)\n")
    (tmp_path / "in.txt").write_text("from stdin\n")
    process = await start(tmp_path, script, "--stdin", str(tmp_path / "in.txt"))
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 3
    assert stdout.decode().splitlines() == ["● codex session started", "héllo", "world",
                                            f"plain from stdin {tmp_path}"]
    assert stderr.decode() == "to stderr\n"
    raw = (tmp_path / "raw.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in raw[:2]] == events
    assert raw[2].startswith("plain from stdin")


async def test_stdin_defaults_to_dev_null(tmp_path: Path) -> None:
    process = await start(tmp_path, "import sys\nprint(repr(sys.stdin.read()))\n")
    stdout, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert stdout.decode() == "''\n"


async def test_forwards_sigterm_to_the_child(tmp_path: Path) -> None:
    script = ("import signal, sys\n"
              "signal.signal(signal.SIGTERM, lambda *_: (print('child got SIGTERM', flush=True), sys.exit(42)))\n"
              "print('ready', flush=True)\n"
              "while True: signal.pause()\n")
    process = await start(tmp_path, script)
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), TIMEOUT) == b"ready\n"
    process.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert rest == b"child got SIGTERM\n"
    assert process.returncode == 42


async def test_child_killed_by_signal_exits_128_plus_n(tmp_path: Path) -> None:
    process = await start(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 128 + signal.SIGKILL


async def test_missing_command_exits_127(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orch.core.agents.render", "claude", str(tmp_path / "raw.jsonl"), "--",
        str(tmp_path / "no-such-cli"), cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 127
    assert b"command not found" in stderr


async def test_usage_errors(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orch.core.agents.render", "claude", str(tmp_path / "raw.jsonl"), cwd=tmp_path, env=env,
        stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 2
    assert b"no command given after --" in stderr


async def test_only_structured_agents_are_rendered(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for agent, message in (("shell", b"prints no structured output"), ("nope", b"unknown agent 'nope'")):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orch.core.agents.render", agent, str(tmp_path / "raw.jsonl"), "--", "true",
            cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
        assert process.returncode == 2 and message in stderr, agent

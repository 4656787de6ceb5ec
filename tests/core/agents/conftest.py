"""Fixtures for running the real agent CLIs against local fakes, inside a loopback-only network namespace.

Run the live tests with:
    unshare -n sh -c 'ip link set lo up && NO_PROXY=127.0.0.1,localhost \
        PATH=$PWD/.npm-cli/node_modules/.bin:$PATH python -m pytest tests/core/agents -q'
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from orch.core.agents.base import AttemptContext, Launch
from orch.core.agents.pane import pane_lines
from orch.core.agents.prompt import build_system_prompt, build_task_prompt
from orch.core.agents.structured import StructuredAgent
from orch.core.config import AgentConfig, WorkflowConfig
from orch.core.tasks.models import Task, TaskStatus

from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.openai_responses import FakeResponsesAPI

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"
CLI_TIMEOUT = 60.0


def network_isolated() -> bool:
    """True inside a network namespace whose only interface is loopback (`unshare -n`)."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def require_cli(name: str) -> str:
    """The CLI's path; skips the test unless it is installed and nothing can leave the machine."""
    if not network_isolated():
        pytest.skip("agent CLIs run only in a loopback-only network namespace: "
                    "unshare -n sh -c 'ip link set lo up && python -m pytest ...'")
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not on PATH (install with .ci/install-agent-clis.sh, add .npm-cli/node_modules/.bin)")
    return path


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=orch-test", "-c", "user.email=orch@test", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@dataclass
class Checkout:
    main: Path  # the user's own checkout, which sandboxed agents must not touch
    worktree: Path  # the task's git worktree, where the agent works
    home: Path  # the CLI's HOME

    def status(self) -> str:
        return git("status", "--porcelain", "--untracked-files=all", cwd=self.worktree)


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    main = tmp_path / "main"
    main.mkdir()
    git("init", "-q", "-b", "main", cwd=main)
    (main / "README.md").write_text("project\n")
    (main / "secret.txt").write_text("main checkout secret\n")
    git("add", ".", cwd=main)
    git("commit", "-q", "-m", "init", cwd=main)
    worktree = tmp_path / "worktrees" / "task-1"
    git("worktree", "add", "-q", "-b", "orch/task-1", str(worktree), cwd=main)
    home = tmp_path / "home"
    home.mkdir()
    return Checkout(main=main, worktree=worktree, home=home)


def home_env(home: Path) -> dict[str, str]:
    """A HOME of the test's own, with the XDG folders inside it (CI may set XDG_* to shared places)."""
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state")}


TASK = Task(id=1, title="Create hello.txt", body="Create hello.txt containing hello.", status=TaskStatus.IN_PROGRESS)


def make_context(agent: str, checkout: Checkout, config: AgentConfig, *, model: str | None,
                 sandbox: bool = True, task: Task = TASK) -> AttemptContext:
    attempt_dir = checkout.home.parent / "attempts" / str(task.id) / "1"
    attempt_dir.mkdir(parents=True, exist_ok=True)
    prompt_file = attempt_dir / "prompt.md"
    prompt_file.write_text(build_task_prompt(task, []), encoding="utf-8")
    return AttemptContext(
        task=task, attempt=1, agent=agent, model=model, worktree=checkout.worktree, attempt_dir=attempt_dir,
        prompt_file=prompt_file,
        system_prompt=build_system_prompt(task, checkout.worktree, checkout.main,
                                          {"role": "test engineer", "skills": ["python"]}),
        main_checkout=checkout.main, agent_config=config, workflow=WorkflowConfig(sandbox=sandbox),
        result_file=attempt_dir / "result.json")


def render_output(adapter: StructuredAgent, output: str) -> list[str]:
    """The pane lines `python -m orch.core.agents.render` prints for this raw output of the adapter's CLI."""
    decoder = adapter.decoder()
    return [line for raw in output.splitlines() for line in pane_lines(decoder.decode(raw), adapter.name)]


@dataclass
class Run:
    exit_code: int
    pane: list[str]  # what render.py printed: the readable lines
    raw: str  # the raw JSON lines it saved


async def start_render(ctx: AttemptContext, launch: Launch) -> asyncio.subprocess.Process:
    """Start `python -m orch.core.agents.render` the way the runner does (cwd = worktree, env = Launch.env + ORCH_*)."""
    env = {**os.environ, **launch.env, "ORCH_TASK_ID": str(ctx.task.id), "ORCH_AGENT": ctx.agent,
           "ORCH_MODEL": ctx.model or "", "PYTHONPATH": str(REPO_ROOT)}
    stdin = ["--stdin", str(launch.stdin_file)] if launch.stdin_file else []
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orch.core.agents.render", ctx.agent, str(ctx.raw_output_file), *stdin, "--",
        *launch.argv, cwd=ctx.worktree, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def run_render(ctx: AttemptContext, launch: Launch) -> Run:
    process = await start_render(ctx, launch)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    raw = ctx.raw_output_file.read_text(encoding="utf-8") if ctx.raw_output_file.exists() else ""
    assert raw, f"no output (exit {process.returncode}); stderr: {stderr.decode(errors='replace')[-2000:]}"
    return Run(process.returncode, stdout.decode("utf-8").splitlines(), raw)


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[FakeAnthropicAPI]:
    fake = FakeAnthropicAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def responses_fake() -> AsyncIterator[FakeResponsesAPI]:
    fake = FakeResponsesAPI()
    await fake.start()
    yield fake
    await fake.stop()


def prepare_opencode_home(home: Path, version: str) -> None:
    """Make opencode find its plugin installed, so it starts no background `npm install` in its config folder."""
    folder = home / ".config" / "opencode"
    package = folder / "node_modules" / "@opencode-ai" / "plugin"
    package.mkdir(parents=True, exist_ok=True)
    (package / "package.json").write_text(json.dumps({"name": "@opencode-ai/plugin", "version": version}))
    (folder / "package.json").write_text(json.dumps({"dependencies": {"@opencode-ai/plugin": version}}))
    (folder / "package-lock.json").write_text(json.dumps({
        "name": "opencode", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"dependencies": {"@opencode-ai/plugin": version}},
                     "node_modules/@opencode-ai/plugin": {"version": version}}}))


@functools.cache
def cli_version(path: str) -> str:
    return subprocess.run([path, "--version"], check=True, capture_output=True, text=True).stdout.strip()

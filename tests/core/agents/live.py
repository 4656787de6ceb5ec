"""Shared by the tests that run the real agent CLIs through the engine: a registered project, the agents' own
HOME, fakes of the model APIs, and config.yml entries pointing each real CLI at its fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from orch.core.config import Config, parse_config
from orch.core.home import OrchHome
from orch.core.projects.worktrees import branch_name
from orch.core.tasks.models import Task, TaskStatus

from tests.conftest import make_repo
from tests.core.agents.conftest import CLI_TIMEOUT, cli_version, home_env, prepare_opencode_home, require_cli
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.openai_responses import FakeResponsesAPI, codex_provider_args

TITLE = "Create hello.txt"
OPENCODE_MODEL = "fake/fake-model"
MODELS = {"claude": "sonnet", "codex": "gpt-5.5", "opencode": OPENCODE_MODEL}


@dataclass
class Setup:
    repo: Path  # the project's main checkout, registered as project `app`
    agent_home: Path  # HOME of the agent CLIs
    home: OrchHome

    def worktree(self, task_id: int = 1, title: str = TITLE) -> Path:
        """Where the engine puts the task's worktree (known before the task exists, so the fake can be scripted)."""
        branch = branch_name(Task(id=task_id, title=title, body="", status=TaskStatus.NEW))
        return self.home.worktrees_dir / "app" / branch


@pytest.fixture
def setup(tmp_path: Path, home: OrchHome) -> Setup:
    repo = make_repo(tmp_path / "repo", {"README.md": "project\n"})
    agent_home = tmp_path / "agent-home"
    agent_home.mkdir()
    return Setup(repo, agent_home, home)


@pytest.fixture
async def titled_fake() -> AsyncIterator[FakeAnthropicAPI]:
    """The fake Anthropic API for any of the three CLIs: opencode first asks for a session title, without tools,
    which is answered outside the script."""
    fake = FakeAnthropicAPI(toolless_reply="Create hello")
    await fake.start()
    yield fake
    await fake.stop()


# -- config.yml for each agent, pointing its real CLI at a fake -----------------------------------------------------


def claude_agent(setup: Setup, fake: FakeAnthropicAPI) -> dict[str, Any]:
    env = {**home_env(setup.agent_home), "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake.base_url,
           "CLAUDE_CODE_MAX_RETRIES": "0"}
    return {"command": require_cli("claude"), "env": env}


def codex_agent(setup: Setup, fake: FakeResponsesAPI) -> dict[str, Any]:
    codex_home = setup.agent_home / ".codex"
    codex_home.mkdir(exist_ok=True)
    env = {**home_env(setup.agent_home), "CODEX_HOME": str(codex_home), "FAKE_API_KEY": "sk-test"}
    return {"command": require_cli("codex"), "env": env, "args": codex_provider_args(fake.base_url),
            "sandbox": "workspace-write"}


def opencode_agent(setup: Setup, fake: FakeAnthropicAPI) -> dict[str, Any]:
    command = require_cli("opencode")
    prepare_opencode_home(setup.agent_home, cli_version(command))
    provider_config = setup.agent_home / "opencode-provider.json"
    provider_config.write_text(json.dumps({
        "provider": {"fake": {
            "npm": "@ai-sdk/anthropic",
            "options": {"baseURL": f"{fake.base_url}/v1", "apiKey": "sk-ant-test"},
            "models": {"fake-model": {"tool_call": True, "limit": {"context": 200000, "output": 8192},
                                      "cost": {"input": 3, "output": 15}}},
        }},
        "model": OPENCODE_MODEL, "small_model": OPENCODE_MODEL,
    }))
    return {"command": command, "env": {**home_env(setup.agent_home), "OPENCODE_CONFIG": str(provider_config)}}


def make_config(setup: Setup, agents: dict[str, dict[str, Any]]) -> Config:
    names = list(agents)
    return parse_config({
        "projects": {"app": {"path": str(setup.repo)}},
        "router": {"mode": "round_robin", "agents": names, "fallback_executor": names[0]},
        "model_map": {"medium": MODELS},
        "workflow": {"max_attempts": 3, "timeout_seconds": CLI_TIMEOUT, "idle_timeout_seconds": CLI_TIMEOUT,
                     "review": False},
        "agents": agents,
    })

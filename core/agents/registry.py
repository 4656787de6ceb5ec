"""Which adapter serves which agent name, and whether an agent's CLI is installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterable

from orch.core.agents.base import AgentAdapter
from orch.core.agents.claude import ClaudeAgent
from orch.core.agents.codex import CodexAgent
from orch.core.agents.opencode import OpencodeAgent
from orch.core.agents.shell import ShellAgent
from orch.core.config import Config
from orch.core.errors import UserError

_ADAPTERS: dict[str, AgentAdapter] = {
    adapter.name: adapter for adapter in (ClaudeAgent(), CodexAgent(), OpencodeAgent(), ShellAgent())
}


def adapter_for(name: str) -> AgentAdapter:
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise UserError(f"unknown agent {name!r} (one of {', '.join(sorted(_ADAPTERS))})") from None


def executable(config: Config, name: str) -> str:
    """The command that starts agent `name`: agents.NAME.command, else its CLI's usual name."""
    return adapter_for(name).executable(config.agents.get(name))


def executable_path(config: Config, name: str) -> str | None:
    """Where agent `name`'s command is found on PATH (or the command itself, when it is a path that exists)."""
    return shutil.which(executable(config, name))


def is_installed(config: Config, name: str) -> bool:
    """Whether agent `name` can be started here."""
    return executable_path(config, name) is not None


def installed_agents(config: Config, names: Iterable[str]) -> list[str]:
    """The agents among `names` that can be started here, in the same order."""
    return [name for name in names if is_installed(config, name)]

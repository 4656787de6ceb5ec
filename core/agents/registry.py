"""Which adapter serves which agent name."""

from __future__ import annotations

from collections.abc import Sequence

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


def known_agents() -> list[str]:
    return sorted(_ADAPTERS)


def installed_agents(config: Config, names: Sequence[str]) -> list[str]:
    """Those of `names` whose CLI can be found on PATH (agents.NAME.command or the default executable)."""
    return [name for name in names if adapter_for(name).is_installed(config.agents.get(name))]

"""Which adapter serves which agent name."""

from __future__ import annotations

from orch.core.agents.base import AgentAdapter
from orch.core.agents.claude import ClaudeAgent
from orch.core.agents.codex import CodexAgent
from orch.core.agents.opencode import OpencodeAgent
from orch.core.agents.shell import ShellAgent
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

"""Which adapter serves which agent name."""

from __future__ import annotations

from core.agents.base import AgentAdapter
from core.agents.claude import ClaudeAgent
from core.agents.codex import CodexAgent
from core.agents.opencode import OpencodeAgent
from core.agents.shell import ShellAgent
from core.errors import UserError

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

"""Choosing the agent, tier and model for a task (labels, then the fallback executor)."""

from __future__ import annotations

from collections.abc import Callable

from core.agents.registry import adapter_for
from core.config import Config
from core.errors import OrchError
from core.home import OrchHome
from core.models import RouteDecision, Task
from core.store import Store


class NoAgentAvailable(OrchError):
    """No configured agent can run the task."""


class Router:
    def __init__(self, config: Config, store: Store, home: OrchHome,
                 is_installed: Callable[[str], bool] | None = None) -> None:
        self._config = config
        self._store = store
        self._home = home
        self._is_installed = is_installed or self._installed

    def _installed(self, name: str) -> bool:
        try:
            return adapter_for(name).is_installed(self._config.agents.get(name))
        except OrchError:
            return False

    async def route(self, task: Task) -> RouteDecision:
        complexity = task.label_value("complexity") or "medium"
        agent = task.label_value("agent")
        decided_by, reason = "label", f"label agent:{agent}"
        if agent is None:
            agent, decided_by, reason = self._config.router.fallback_executor, "fallback", "fallback executor"
        if not self._is_installed(agent):
            raise NoAgentAvailable(f"agent {agent} is not installed")
        decision = RouteDecision(agent=agent, model=self._config.model_map.model_for(complexity, agent),
                                 complexity=complexity, reason=reason, decided_by=decided_by)
        await self._store.save_route(task.id, decision)
        return decision

    def status_line(self) -> str:
        return f"router: labels, then {self._config.router.fallback_executor}"

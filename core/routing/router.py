"""Routing: which agent does a task, at which tier, with which model (SPEC.md "Routing").

Labels come first (`agent:NAME`, `complexity:LEVEL`), then `router.mode`: one Anthropic Messages API call
(`llm`) or `round_robin`. A failed LLM call counts a route attempt; after `router.max_route_attempts` the
task is routed round-robin. An agent that is not installed is replaced by `router.fallback_executor`. Every
decision is saved in the store and in the task's route sidecar, with warnings that explain how it was made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from typing import Any

import anthropic
from orch.core.agents import registry
from orch.core.config import Config
from orch.core.errors import NoAgentAvailable
from orch.core.home import OrchHome, private_dirs, write_private
from orch.core.names import COMPLEXITIES
from orch.core.ops.readiness import fallback_agent
from orch.core.routing.answer import RouteAnswerError, parse_answer
from orch.core.store.base import Store
from orch.core.tasks.labels import label_values
from orch.core.tasks.models import RouteDecision, Task

log = logging.getLogger("orch.router")

ROUND_ROBIN_KEY = "router.round_robin.last"
# A route needs the gist of a task, not all of a pasted log; this keeps one call cheap and inside the context.
_MAX_BODY_CHARS = 20_000
_MAX_TOKENS = 1024


@dataclass(frozen=True)
class _Choice:
    agent: str
    complexity: str
    reason: str
    decided_by: str
    profile: dict[str, Any] = field(default_factory=dict)
    selected_skills: tuple[str, ...] = ()


class Router:
    """Decides the agent, tier and model of a task and records the decision."""

    def __init__(
        self,
        config: Config,
        store: Store,
        home: OrchHome,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        is_installed: Callable[[str], bool] | None = None,
    ) -> None:
        self._config = config
        self._settings = config.router
        self._store = store
        self._home = home
        self._is_installed = is_installed or partial(registry.is_installed, config)
        self._owns_client = False
        self._client: anthropic.AsyncAnthropic | None = None
        if self._settings.mode == "llm":
            if client is not None:
                # Retries are ours to count (max_route_attempts), so the SDK must not retry behind our back.
                self._client = client.with_options(max_retries=0, timeout=self._settings.timeout_seconds)
            elif os.environ.get("ANTHROPIC_API_KEY"):
                self._client = anthropic.AsyncAnthropic(max_retries=0, timeout=self._settings.timeout_seconds)
                self._owns_client = True
        self._template = string.Template(
            resources.files("orch.prompts").joinpath("route.md").read_text(encoding="utf-8"))
        self._said: set[str] = set()  # notes logged once per run (a fallback agent that is not installed)
        # Two tasks routed at once must not both read the same round-robin position.
        self._round_robin_lock = asyncio.Lock()

    def status_line(self) -> str:
        """One line for `orch doctor` and /status: how tasks will be routed."""
        if self._settings.mode == "round_robin":
            return "router: round-robin"
        if self._client is None:
            return "router: round-robin (no ANTHROPIC_API_KEY)"
        return f"router: llm ({self._settings.model})"

    async def close(self) -> None:
        """Close the API client if this router created it (an injected client belongs to the caller)."""
        if self._owns_client and self._client is not None:
            await self._client.close()

    async def route(self, task: Task) -> RouteDecision:
        """Route `task`, save the decision and write its sidecar. Raises NoAgentAvailable."""
        warnings: list[str] = []
        available = [name for name in self._settings.agents if self._is_installed(name)]
        complexity = self._label_complexity(task, warnings)
        choice = await self._from_label(task, available, complexity, warnings)
        if choice is None:
            choice = await self._by_mode(task, available, complexity, warnings)
        decision = self._finish(task, choice, warnings)
        await self._record(task, decision)
        log.info("task %s routed to %s (%s, %s) by %s", task.id, decision.agent, decision.complexity,
                 decision.model, decision.decided_by)
        return decision

    def _label_complexity(self, task: Task, warnings: list[str]) -> str | None:
        values = _label_values(task, "complexity")
        if not values:
            return None
        if len(set(values)) > 1:
            warnings.append(f"labels ask for several tiers ({', '.join(values)}); using {values[0]}")
        if values[0] not in COMPLEXITIES:
            warnings.append(f"label complexity:{values[0]} ignored: not one of {', '.join(COMPLEXITIES)}")
            return None
        return values[0]

    async def _from_label(
        self, task: Task, available: Sequence[str], complexity: str | None, warnings: list[str]
    ) -> _Choice | None:
        values = _label_values(task, "agent")
        if not values:
            return None
        name = values[0]
        if len(set(values)) > 1:
            warnings.append(f"labels ask for several agents ({', '.join(values)}); using {name}")
        if name not in self._settings.agents and name != "shell":
            configured = ", ".join(self._settings.agents)
            warnings.append(f"label agent:{name} ignored: not one of router.agents ({configured})")
            return None
        tier = complexity or "medium"
        if self._is_installed(name):
            return _Choice(name, tier, f"label agent:{name}", "label")
        return await self._fallback(f"agent {name} (label agent:{name}) is not installed", available, tier, warnings)

    async def _by_mode(
        self, task: Task, available: Sequence[str], complexity: str | None, warnings: list[str]
    ) -> _Choice:
        tier = complexity or "medium"
        if not available:
            return await self._fallback(
                f"no agent of router.agents ({', '.join(self._settings.agents)}) is installed", available, tier,
                warnings,
            )
        if self._settings.mode == "round_robin":
            return await self._round_robin(available, tier, "router.mode is round_robin", warnings)
        if self._client is None:
            # By design, not a fault: said once at start (status_line, in serve's ready line), not on every task;
            # the decision's reason names it.
            return await self._round_robin(available, tier, "no ANTHROPIC_API_KEY", warnings)
        choice = await self._ask_llm(self._client, task, available, complexity, warnings)
        if choice is not None:
            return choice
        attempts = self._settings.max_route_attempts
        warnings.append(f"the router LLM failed {attempts} time(s): routing round-robin")
        return await self._round_robin(available, tier, f"the router LLM failed {attempts} time(s)", warnings)

    async def _ask_llm(
        self,
        client: anthropic.AsyncAnthropic,
        task: Task,
        available: Sequence[str],
        label_complexity: str | None,
        warnings: list[str],
    ) -> _Choice | None:
        prompt = self._prompt(task, available)
        attempts = self._settings.max_route_attempts
        for attempt in range(1, attempts + 1):
            try:
                answer = parse_answer(await self._call(client, prompt), available)
            except RouteAnswerError as exc:
                problem = str(exc)
            except anthropic.APIStatusError as exc:
                problem = _describe_status(exc)
            except anthropic.APITimeoutError:
                problem = f"no answer within {self._settings.timeout_seconds:g}s"
            except anthropic.AnthropicError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                warnings.extend(answer.warnings)
                complexity = answer.complexity
                if label_complexity is not None and label_complexity != answer.complexity:
                    warnings.append(
                        f"the router LLM said {answer.complexity}; label complexity:{label_complexity} wins"
                    )
                    complexity = label_complexity
                return _Choice(answer.executor, complexity, answer.reason or "chosen by the router LLM", "llm",
                               answer.profile, answer.selected_skills)
            message = f"route attempt {attempt}/{attempts} failed: {problem}"
            log.warning("task %s: %s", task.id, message)
            warnings.append(message)
        return None

    async def _call(self, client: anthropic.AsyncAnthropic, prompt: str) -> str:
        response = await client.messages.create(
            model=self._settings.model,
            max_tokens=_MAX_TOKENS,
            messages=[{"role": "user", "content": prompt}],
        )
        return "".join(block.text for block in response.content if isinstance(block, anthropic.types.TextBlock))

    def _prompt(self, task: Task, available: Sequence[str]) -> str:
        body = task.body
        if len(body) > _MAX_BODY_CHARS:
            body = body[:_MAX_BODY_CHARS] + f"\n[… {len(body) - _MAX_BODY_CHARS} more characters not shown]"
        return self._template.substitute(
            agents=_bullets(available, "(none)"),
            skills=_bullets(self._settings.default_skills, '(the catalog is empty: answer "selected_skills": [])'),
            tools=_bullets(self._settings.allowed_tools, "(no list is configured: name the tools the work needs)"),
            task_id=str(task.id),
            title=task.title,
            labels=", ".join(task.labels) or "(none)",
            body=body or "(empty)",
        )

    async def _round_robin(self, available: Sequence[str], tier: str, why: str, warnings: list[str]) -> _Choice:
        async with self._round_robin_lock:
            last = await self._store.kv_get(ROUND_ROBIN_KEY)
            agent = _next_after(last, self._settings.agents, available)
            await self._store.kv_set(ROUND_ROBIN_KEY, agent)
        return _Choice(agent, tier, f"round-robin ({why})", "round_robin")

    async def _fallback(self, problem: str, available: Sequence[str], tier: str, warnings: list[str]) -> _Choice:
        # router.fallback_executor when installed, else the first installed agent — said once, not per task.
        fallback, note = fallback_agent(self._config, self._is_installed)
        if note is not None and note not in self._said:
            self._said.add(note)
            log.warning(note)
        if fallback is None:
            raise NoAgentAvailable(f"{problem}, and fallback_executor {self._settings.fallback_executor} is not "
                                   "installed either")
        warnings.append(f"{problem}: using fallback_executor {fallback}" if note is None else
                        f"{problem}: using {fallback}, the first installed agent ({note.split(':')[0]})")
        return _Choice(fallback, tier, f"fallback_executor ({problem})" if note is None else
                       f"first installed agent {fallback} ({problem})", "fallback")

    def _finish(self, task: Task, choice: _Choice, warnings: list[str]) -> RouteDecision:
        model = None
        if choice.agent != "shell":
            model = self._config.model_map.model_for(choice.complexity, choice.agent)
            if model is None:
                warnings.append(f"model_map.{choice.complexity}.{choice.agent} is not set: the agent's default model")
        wanted = _label_values(task, "agent")
        if wanted and wanted[0] != choice.agent:
            warnings.append(f"the labels ask for agent {wanted[0]}, but {choice.agent} was chosen")
        if choice.decided_by == "llm":
            warnings.extend(self._profile_warnings(choice))
        return RouteDecision(
            agent=choice.agent,
            model=model,
            complexity=choice.complexity,
            reason=choice.reason,
            decided_by=choice.decided_by,
            profile=choice.profile,
            selected_skills=choice.selected_skills,
            warnings=tuple(dict.fromkeys(warnings)),
        )

    def _profile_warnings(self, choice: _Choice) -> list[str]:
        warnings: list[str] = []
        if not choice.profile.get("skills"):
            warnings.append("the profile lists no skills")
        catalog = self._settings.default_skills
        if catalog:
            if not choice.selected_skills:
                warnings.append("no skill was selected from the catalog")
            unknown = [skill for skill in choice.selected_skills if skill not in catalog]
            if unknown:
                warnings.append(f"selected skills not in the catalog: {', '.join(unknown)}")
        allowed = self._settings.allowed_tools
        if allowed:
            extra = [tool for tool in choice.profile.get("tools", ()) if tool not in allowed]
            if extra:
                warnings.append(f"profile tools not in router.allowed_tools: {', '.join(extra)}")
        return warnings

    async def _record(self, task: Task, decision: RouteDecision) -> None:
        await self._store.save_route(task.id, decision)
        path = self._home.route_file(task.id)
        private_dirs(path.parent)
        content = json.dumps({"task_id": task.id, **decision.to_json(), "routed_at": time.time()}, indent=2)
        # Readers (`orch task show`, a person with `cat`) must never see a half-written file.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        write_private(tmp, content + "\n")
        os.replace(tmp, path)


def _label_values(task: Task, key: str) -> list[str]:
    # Agent and tier names are lower case; `agent:Claude` means claude.
    return [value.lower() for value in label_values(task.labels, key)]


def _next_after(last: str | None, order: Sequence[str], available: Sequence[str]) -> str:
    # Keyed on the last agent's name rather than an index, so the order survives agents being installed,
    # uninstalled or reordered in the config between two routes.
    if last in order:
        start = order.index(last) + 1
        for name in [*order[start:], *order[:start]]:
            if name in available:
                return name
    return available[0]


def _bullets(items: Sequence[str], empty: str) -> str:
    return "\n".join(f"- {item}" for item in items) if items else empty


def _describe_status(exc: anthropic.APIStatusError) -> str:
    error_type, message = "", exc.message
    if isinstance(exc.body, dict) and isinstance(exc.body.get("error"), dict):
        error_type = str(exc.body["error"].get("type", ""))
        message = str(exc.body["error"].get("message", message))
    text = f"HTTP {exc.status_code}" + (f" {error_type}" if error_type else "") + f": {message}"
    retry_after = exc.response.headers.get("retry-after")
    if retry_after:
        text += f" (retry-after {retry_after}s)"
    return text

"""What an attempt is launched with: its folder and prompt files, the AttemptContext an adapter reads, and the
environment of its process."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from orch.core.agents.base import AgentAdapter, AttemptContext, Launch
from orch.core.agents.prompt import build_followup_prompt, build_system_prompt, build_task_prompt
from orch.core.config import Config
from orch.core.home import OrchHome, private_dirs, write_private
from orch.core.projects.registry import ProjectRef
from orch.core.projects.worktrees import Worktree
from orch.core.store.base import Store
from orch.core.tasks.models import FollowUp, RouteDecision, Task

# The variables orch itself uses for its chat tokens; a value equal to a configured token is hidden too.
_CHAT_TOKEN_VARIABLES = ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")


class AttemptSetup:
    """Prepares attempts: writes the prompt into the attempt's folder and builds what the adapter needs."""

    def __init__(self, home: OrchHome, config: Config, store: Store) -> None:
        self._home = home
        self._config = config
        self._store = store

    async def context(self, task: Task, number: int, decision: RouteDecision, project: ProjectRef,
                      worktree: Worktree, feedback: str | None = None) -> AttemptContext:
        """A work attempt: the task (with its children's results, and a reviewer's `feedback` if any)."""
        children = await self._store.list_tasks(parent_id=task.id)
        results = [f"task {c.id} ({c.title}): {c.status.value}: {c.summary or 'no summary'}" for c in children]
        route = await self._store.get_route(task.id) or {}
        system = build_system_prompt(task, worktree.path, project.path, route.get("profile") or {})
        return self._context(task, number, decision.agent, decision.model, project, worktree,
                             build_task_prompt(task, results, feedback), system)

    async def followup_context(self, task: Task, number: int, decision: RouteDecision, project: ProjectRef,
                               worktree: Worktree, followup: FollowUp, session: str | None) -> AttemptContext:
        """A follow-up: the next turn of the agent's own session (`session`), its prompt the person's text. The
        shell agent has no session: it runs the text as a new script in the same worktree."""
        route = await self._store.get_route(task.id) or {}
        system = build_system_prompt(task, worktree.path, project.path, route.get("profile") or {})
        if decision.agent == "shell":
            task = replace(task, body=followup.text)
        ctx = self._context(task, number, decision.agent, decision.model, project, worktree,
                            build_followup_prompt(task, followup.text, resumed=session is not None), system)
        return replace(ctx, resume_session=session)

    def review_context(self, task: Task, number: int, reviewer: str, model: str | None, project: ProjectRef,
                       worktree: Worktree, prompt: str, system_prompt: str) -> AttemptContext:
        """A review attempt: read-only, with the review prompt instead of the task's."""
        return self._context(task, number, reviewer, model, project, worktree, prompt, system_prompt, read_only=True)

    def _context(self, task: Task, number: int, agent: str, model: str | None, project: ProjectRef,
                 worktree: Worktree, prompt: str, system_prompt: str, *, read_only: bool = False) -> AttemptContext:
        attempt_dir = self._home.attempt_dir(task.id, number)
        private_dirs(attempt_dir)
        prompt_file = attempt_dir / "prompt.md"
        write_private(prompt_file, prompt)
        return AttemptContext(
            task=task, attempt=number, agent=agent, model=model, worktree=worktree.path, attempt_dir=attempt_dir,
            prompt_file=prompt_file, system_prompt=system_prompt, main_checkout=project.path,
            agent_config=self._config.agents.get(agent), workflow=self._config.workflow,
            result_file=attempt_dir / "result.json", read_only=read_only,
        )

    def setup_marker(self, task_id: int) -> Path:
        """Touched once the project's setup command has succeeded in the task's current worktree."""
        return self._home.attempt_dir(task_id, 0).parent / "setup.done"

    def setup_command(self, ctx: AttemptContext, project: ProjectRef) -> str | None:
        """The project's setup, for a work attempt in a worktree where it has not succeeded yet."""
        if ctx.read_only or not project.settings.setup or self.setup_marker(ctx.task.id).exists():
            return None
        return project.settings.setup

    def environment(self, ctx: AttemptContext, launch: Launch) -> dict[str, str]:
        """The agent's environment: what its adapter asks for and the ORCH_* variables (SPEC "Agents")."""
        # ORCH_HOME too: what the agent starts (claude's approval server) finds orch's store through it.
        return {**launch.env, "ORCH_HOME": str(self._home.root), "ORCH_TASK_ID": str(ctx.task.id),
                "ORCH_AGENT": ctx.agent, "ORCH_MODEL": ctx.model or "", "ORCH_ATTEMPT": str(ctx.attempt),
                "ORCH_RESULT_FILE": str(ctx.result_file), "ORCH_PROMPT_FILE": str(ctx.prompt_file),
                "PATH": os.environ.get("PATH", "")}

    def private_names(self) -> tuple[str, ...]:
        """orch's chat tokens: the tmux server inherits orch's environment, agents must not see them."""
        transports = self._config.transports
        tokens = {token for token in (transports.telegram.token, transports.discord.token) if token}
        names = set(_CHAT_TOKEN_VARIABLES)
        names.update(name for name, value in os.environ.items() if value in tokens)
        return tuple(sorted(names))

    @staticmethod
    def pane_argv(adapter: AgentAdapter, ctx: AttemptContext, launch: Launch) -> tuple[list[str], Path | None]:
        """The pane's command line and stdin file: a structured CLI runs under orch's renderer, which keeps
        its raw JSON and prints readable lines."""
        if not adapter.structured_output:
            return launch.argv, launch.stdin_file
        extra = ["--stdin", str(launch.stdin_file)] if launch.stdin_file else []
        return python_module_argv("orch.core.agents.render", ctx.agent, str(ctx.raw_output_file), *extra, "--",
                                  *launch.argv), None


def python_module_argv(module: str, *args: str) -> list[str]:
    """argv running a module of this installation with the interpreter orch itself runs on."""
    return [sys.executable, "-m", module, *args]

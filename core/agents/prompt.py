"""The texts an agent gets: the system prompt (prompts/agent_system.md filled in) and the task prompt."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from orch.core.tasks.models import Task

_UNSET = "(none given)"


def _profile_value(value: Any, default: str = _UNSET) -> str:
    if value is None or value == "" or value == []:
        return default
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def build_system_prompt(task: Task, worktree: Path, main_checkout: Path, profile: dict[str, Any]) -> str:
    """prompts/agent_system.md for this task; `profile` is the route's {role, skills, tools, constraints}."""
    template = Template(resources.files("orch.prompts").joinpath("agent_system.md").read_text(encoding="utf-8"))
    return template.substitute(
        task_id=task.id,
        title=task.title,
        body=task.body.strip() or "(no further description)",
        worktree=worktree,
        main_checkout=main_checkout,
        role=_profile_value(profile.get("role"), "a senior software engineer"),
        skills=_profile_value(profile.get("skills")),
        tools=_profile_value(profile.get("tools")),
        constraints=_profile_value(profile.get("constraints")),
    )


def build_task_prompt(task: Task, children_results: list[str], feedback: str | None = None) -> str:
    """The first user message: the task, the results of its sub-tasks when it runs again after them, and a
    reviewer's requests when its last change was not approved."""
    parts = [f"Task {task.id}: {task.title}"]
    if task.body.strip():
        parts.append(task.body.strip())
    if children_results:
        results = "\n".join(f"- {result.strip()}" for result in children_results)
        parts.append("The sub-tasks you delegated are done. Their results:\n" + results
                     + "\n\nContinue the task with these results.")
    if feedback:
        parts.append(feedback.strip())
    parts.append("End with the orch-result block described in your instructions.")
    return "\n\n".join(parts) + "\n"


def build_followup_prompt(task: Task, text: str, *, resumed: bool) -> str:
    """A follow-up's prompt. Resumed, the agent has the whole conversation already: the text is its next turn.
    Otherwise (no session to resume) it gets the task again with the follow-up after it."""
    if resumed:
        return f"{text.strip()}\n\nEnd with the orch-result block described in your instructions.\n"
    return build_task_prompt(task, []).rstrip("\n") + f"\n\nA follow-up from the user:\n{text.strip()}\n"

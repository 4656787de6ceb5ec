"""The review of a task's change by a second agent: who reviews, what it is shown, and how its answer is read.

The reviewer is the first installed LLM agent other than the author (in router.agents order), else
`workflow.review_agent`, else the author itself; the shell agent never reviews (it would only run the task's
script again). It runs read-only in the task's worktree with the model of `model_map.review`, and answers
`{"decision": "approve"|"request_changes"|"reject", "notes": "…", "comments": [{"path", "line", "body"}]}`,
read as forgivingly as the router's answer. An answer that cannot be read is an `error` decision: it never
approves.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from typing import Any

from orch.core.agents.registry import installed_agents
from orch.core.answers import excerpt, extract_json
from orch.core.config import Config
from orch.core.names import LLM_AGENTS
from orch.core.tasks.models import ReviewComment, Task

DECISIONS = ("approve", "request_changes", "reject")


def review_enabled(config: Config, author: str) -> bool:
    """`workflow.review`; when unset, an LLM agent's change is reviewed if any LLM agent is installed. A shell
    script's change (a scripted job, or trying orch without a key) is reviewed only when asked for."""
    if config.workflow.review is not None:
        return config.workflow.review
    return author in LLM_AGENTS and bool(installed_agents(config, LLM_AGENTS))


def choose_reviewer(config: Config, author: str) -> str | None:
    """Who reviews `author`'s change; None when no agent can."""
    installed = installed_agents(config, [name for name in config.router.agents if name in LLM_AGENTS])
    others = [name for name in installed if name != author]
    if others:
        return others[0]
    fallback = config.workflow.review_agent
    if fallback is not None and installed_agents(config, [fallback]):
        return fallback
    return author if author in installed else None


@dataclass(frozen=True)
class ReviewAnswer:
    decision: str  # approve | request_changes | reject | error
    notes: str
    comments: tuple[ReviewComment, ...] = ()


def read_answer(text: str) -> ReviewAnswer:
    """The reviewer's verdict from its final message; decision `error` (with why) when it cannot be read."""
    try:
        data = extract_json(text, prefer=("decision",))
    except ValueError as exc:
        return ReviewAnswer("error", f"the reviewer's answer could not be read: {exc}")
    decision = str(data.get("decision", "")).strip().lower().replace("-", "_").replace(" ", "_")
    if decision not in DECISIONS:
        return ReviewAnswer("error", f"the reviewer's answer has no decision of {', '.join(DECISIONS)}: "
                                     f"{excerpt(str(data))}")
    notes = data.get("notes")
    return ReviewAnswer(decision, notes.strip() if isinstance(notes, str) else "", _comments(data.get("comments")))


def _comments(value: Any) -> tuple[ReviewComment, ...]:
    # Comments are a courtesy: a malformed one is dropped rather than failing the whole review.
    if not isinstance(value, list):
        return ()
    comments: list[ReviewComment] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("body"), str) or not item["body"].strip():
            continue
        line = item.get("line")
        comments.append(ReviewComment(str(item.get("path") or ""), line if isinstance(line, int) and line > 0
                                      else None, item["body"].strip()))
    return tuple(comments)


def review_prompt(task: Task, summary: str, stat: str, diff: str, base: str, max_chars: int) -> str:
    """prompts/review.md for this task; a diff longer than `max_chars` is cut, and the prompt says so."""
    cut_note = ""
    if len(diff) > max_chars:
        cut_note = (f"\n(The diff is {len(diff):,} characters; only the first {max_chars:,} are shown. Read the rest "
                    "from the files in your working directory.)\n")
        diff = diff[:max_chars]
    template = string.Template(resources.files("orch.prompts").joinpath("review.md").read_text(encoding="utf-8"))
    return template.substitute(task_id=task.id, title=task.title, body=task.body.strip() or "(no description)",
                               summary=summary.strip() or "(no summary)", stat=stat or "(no files)", diff=diff,
                               base=base, cut_note=cut_note)


def review_system_prompt(task: Task, worktree: str, main_checkout: str) -> str:
    template = string.Template(resources.files("orch.prompts").joinpath("review_system.md")
                               .read_text(encoding="utf-8"))
    return template.substitute(task_id=task.id, worktree=worktree, main_checkout=main_checkout)


def feedback_for_author(answer: ReviewAnswer, reviewer: str) -> str:
    """What the author's next attempt is told when its change was not approved."""
    lines = [f"A reviewer ({reviewer}) asked for changes before this can ship:", answer.notes or "(no notes)"]
    for comment in answer.comments:
        where = f"{comment.path}:{comment.line}" if comment.line else comment.path or "general"
        lines.append(f"- {where}: {comment.body}")
    lines.append("Make those changes in the same worktree (your earlier work is committed on the branch).")
    return "\n".join(lines)

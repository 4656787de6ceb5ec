"""An attempt's AgentResult, folded from the events of its output: the same rules for every agent CLI.

- The run's measurements: the last session id, the files changed (relative to the worktree), the sum of its usage.
- When the last event that ends a run is a Final, its text is read by the orch-result contract (`final_answer`),
  together with any question the agent asked and the tool calls that were refused.
- Else, when the CLI reported errors, the first one that says what went wrong (any kind but exit_code) is the
  outcome, or the last one: a CLI may go on after a specific error and then fail vaguely.
- Else refused tool calls need a person; else all there is to go by is the exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from orch.core.agents.base import AgentResult
from orch.core.agents.contract import final_answer
from orch.core.agents.events import (
    Error,
    ErrorKind,
    Event,
    Failed,
    FileChanged,
    Final,
    PermissionDenied,
    Question,
    SessionId,
    Usage,
)

# Error kinds that no retry can fix but a person can: the task goes to needs_review at once.
_NEEDS_A_PERSON: frozenset[ErrorKind] = frozenset({"waiting_for_input", "permission_denied", "budget_exceeded"})


def fold(events: Iterable[Event], *, exit_code: int, worktree: Path) -> AgentResult:
    """The result of an attempt whose output meant `events` and whose CLI exited with `exit_code`."""
    session_id: str | None = None
    files: list[str] = []
    usages: list[Usage] = []
    question: Question | None = None
    denied: list[str] = []
    errors: list[Error | Failed] = []
    final: Final | None = None
    for event in events:
        if isinstance(event, SessionId):
            session_id = event.session_id
        elif isinstance(event, FileChanged):
            path = relative_to(worktree, event.path)
            if path not in files:
                files.append(path)
        elif isinstance(event, Usage):
            usages.append(event)
        elif isinstance(event, Question):
            question = event
        elif isinstance(event, PermissionDenied):
            denied.append(event.what)
        elif isinstance(event, Error | Failed):
            errors.append(event)
            final = None
        elif isinstance(event, Final):
            final = event
    if final is not None:
        outcome = final_answer(final.text, question=question, denied=denied)
    elif errors:
        error = next((item for item in errors if item.kind != "exit_code"), errors[-1])
        outcome = AgentResult(status="needs_review" if error.kind in _NEEDS_A_PERSON else "failed",
                              error_kind=error.kind, error=error.message)
    elif denied:
        outcome = AgentResult(status="needs_review", error_kind="permission_denied",
                              error="permission denied for: " + "; ".join(denied))
    else:
        outcome = exit_failure(exit_code)
    costs = [usage.cost_usd for usage in usages if usage.cost_usd is not None]
    return replace(outcome, session_id=session_id, files_changed=tuple(files),
                   final_text=final.text if final is not None else "",
                   tokens_in=sum(usage.tokens_in for usage in usages) if usages else None,
                   tokens_out=sum(usage.tokens_out for usage in usages) if usages else None,
                   cost_usd=sum(costs) if costs else None)


def exit_failure(exit_code: int) -> AgentResult:
    """The result when the CLI ended without a final answer or an error: the exit code is all there is."""
    if exit_code in (126, 127):
        return AgentResult(status="failed", error_kind="tool_missing",
                           error=f"the agent command could not be started (exit {exit_code})")
    what = "the agent ended without a final answer"
    if exit_code != 0:
        return AgentResult(status="failed", error_kind="exit_code", error=f"{what} (exit code {exit_code})")
    return AgentResult(status="failed", error_kind="unparseable", error=what)


def relative_to(worktree: Path, path: str) -> str:
    """`path` relative to the worktree when it lies inside it, else unchanged."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    for base in (worktree, worktree.resolve()):
        if candidate.is_relative_to(base):
            return str(candidate.relative_to(base))
    return path

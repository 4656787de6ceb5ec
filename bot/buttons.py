"""The buttons orch puts under its messages, and the command each press runs (as if its presser typed it)."""

from __future__ import annotations

from orch.bot.chat import Button
from orch.core.tasks.models import Question, Task, TaskStatus

# Statuses in which a task's agent may be running: its output carries a Stop button.
LIVE = (TaskStatus.ROUTED, TaskStatus.IN_PROGRESS, TaskStatus.WAITING)


def stop(task_id: int) -> Button:
    return Button("Stop", f"/task cancel {task_id}")


def reply(task_id: int) -> Button:
    return Button("Reply", f"/task reply {task_id}", needs_text=True)


def after(task: Task) -> tuple[Button, ...]:
    """Under the line a task ends with: look at the change, run it again, talk to it, ship it."""
    if task.status is TaskStatus.CANCELLED:
        return (Button("Retry", f"/task retry {task.id}"),)
    buttons = [Button("Diff", f"/task diff {task.id}"), Button("Retry", f"/task retry {task.id}"), reply(task.id)]
    if task.status is TaskStatus.DONE and task.diff_files and task.delivered is None:
        buttons += [Button("Merge", f"/task merge {task.id}"), Button("PR", f"/task pr {task.id}")]
    return tuple(buttons)


def answers(question: Question) -> tuple[Button, ...]:
    """The answers to what an agent asks: its options, or Allow / Allow for this task / Deny for a tool call."""
    if question.kind == "approval":
        return (Button("Allow", f"/approve {question.id} allow"),
                Button("Allow for this task", f"/approve {question.id} always"),
                Button("Deny", f"/approve {question.id} deny"))
    options = tuple(Button(option, f"/answer {question.task_id} #{number}")
                    for number, option in enumerate(question.options, start=1))
    return (*options, Button("Answer", f"/answer {question.task_id}", needs_text=True))

"""How tasks and events read in a chat or terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from orch.core.projects.registry import ProjectView
from orch.core.schedule.jobs import JobView
from orch.core.tasks.models import Attempt, RouteDecision, Task, TaskStatus


def created(task: Task) -> str:
    return f"task {task.id} created: {task.title} ({task.status.value})"


def _duration(attempts: Sequence[Attempt]) -> str | None:
    last = attempts[-1] if attempts else None
    if last is None or last.finished_at is None:
        return None
    return f"{last.finished_at - last.started_at:.1f} s"


def _cost(cost: float | None) -> str | None:
    return f"${cost:.4f}" if cost is not None else None


def status_line(task: Task, attempts: Sequence[Attempt], previous: TaskStatus | None = None) -> str | None:
    """The line announced to chats following a task when its status changes; None for quiet changes."""
    details = [part for part in (task.agent, _duration(attempts), _cost(task.cost_usd)) if part]
    paren = f" ({', '.join(details)})" if details else ""
    if task.status is TaskStatus.DONE:
        branch = f" on branch {task.branch}" if task.branch else ""
        return f"task {task.id} done{paren}{branch}"
    if task.status is TaskStatus.NEEDS_REVIEW:
        reason = f": {task.review_reason}" if task.review_reason else ""
        return f"task {task.id} needs_review{paren}{reason}"
    if task.status is TaskStatus.BLOCKED:
        return f"task {task.id} blocked: waiting on its sub-tasks"
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id} cancelled"
    if task.status is TaskStatus.NEW and previous is TaskStatus.BLOCKED:
        return f"task {task.id} unblocked: its sub-tasks are done, running again"
    return None


def task_table(tasks: Sequence[Task]) -> str:
    if not tasks:
        return "no tasks"
    rows = [f"{task.id:>4}  {task.status.value:<12} {(task.agent or '-'):<8} {task.title}" for task in tasks]
    return "\n".join([f"{'id':>4}  {'status':<12} {'agent':<8} title", *rows])


def task_details(task: Task, attempts: Sequence[Attempt]) -> str:
    lines = [
        f"task {task.id}: {task.title}",
        f"status:     {task.status.value}" + (f" ({task.review_reason})" if task.review_reason else ""),
        f"agent:      {task.agent or '-'}",
        f"model:      {task.model or '-'}",
        f"complexity: {task.complexity or '-'}",
        f"route:      {task.route_reason or '-'}",
        f"branch:     {task.branch or '-'}",
        f"attempts:   {task.attempts}",
        f"cost:       {_cost(task.cost_usd) or '-'}",
    ]
    if task.project:
        lines.append(f"project:    {task.project}")
    if task.parent_id:
        lines.append(f"parent:     {task.parent_id}")
    if task.labels:
        lines.append(f"labels:     {' '.join(task.labels)}")
    if task.summary:
        lines.append(f"summary:    {task.summary}")
    for attempt in attempts:
        took = f"{attempt.finished_at - attempt.started_at:.1f} s" if attempt.finished_at else "running"
        outcome = attempt.outcome or "running"
        error = f" — {attempt.error}" if attempt.error else ""
        lines.append(f"  attempt {attempt.number}: {attempt.agent} {outcome} ({took}){error}")
    if task.body:
        lines.append("")
        lines.append(task.body)
    return "\n".join(lines)


def route_decision(task_id: int, decision: RouteDecision) -> str:
    text = (f"task {task_id} routed to {decision.agent} (model {decision.model or '-'}, complexity "
            f"{decision.complexity}, by {decision.decided_by}): {decision.reason}")
    if decision.warnings:
        text += " — warnings: " + "; ".join(decision.warnings)
    return text


def unblocked(tasks: Sequence[Task]) -> str:
    ids = ", ".join(str(task.id) for task in tasks)
    return f"unblocked task {ids}" if len(tasks) == 1 else f"unblocked tasks {ids}"


def status_summary(tasks: Sequence[Task], engine_lines: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    by_status = ", ".join(f"{count} {status}" for status, count in counts.items()) or "no tasks"
    running = [task for task in tasks if task.status is TaskStatus.IN_PROGRESS]
    lines = [*engine_lines, f"tasks: {by_status}"]
    now = time.time()
    lines += [f"  running: task {t.id} ({t.agent}) for {now - t.updated_at:.0f} s: {t.title}" for t in running]
    return "\n".join(lines)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


def job_added(view: JobView) -> str:
    return f"job {view.job.id} added: {view.job.schedule} {view.job.title} (next run {when(view.next_run)})"


def job_table(views: Sequence[JobView]) -> str:
    if not views:
        return "no scheduled jobs"
    width = max(len("schedule"), *(len(view.job.schedule) for view in views))
    rows = [f"{v.job.id:>4}  {'yes' if v.job.enabled else 'no':<7}  {v.job.schedule:<{width}}  "
            f"{when(v.next_run):<16}  {v.job.title}" for v in views]
    return "\n".join([f"{'id':>4}  {'enabled':<7}  {'schedule':<{width}}  {'next run':<16}  title", *rows])


def project_table(views: Sequence[ProjectView]) -> str:
    if not views:
        return "no projects; tasks run in the scratch project (`orch project add URL|PATH` or `orch init`)"
    width = max(len("name"), *(len(view.name) for view in views))
    branch_width = max(len("branch"), *(len(view.default_branch or "-") for view in views))
    rows = [f"{v.name:<{width}}  {v.kind:<8}  {v.default_branch or '-':<{branch_width}}  {v.path}" for v in views]
    return "\n".join([f"{'name':<{width}}  {'kind':<8}  {'branch':<{branch_width}}  path", *rows])

"""How tasks and events read in a chat or terminal."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from orch.core.names import SCRATCH
from orch.core.tasks.models import Attempt, Question, Review, RouteDecision, Task, TaskStatus

if TYPE_CHECKING:  # only named in annotations: the CLI imports this module, and these pull in heavy libraries
    from orch.core.cluster.hosts import HostView
    from orch.core.delivery.gitops import DiffStat
    from orch.core.projects.registry import ProjectView
    from orch.core.schedule.jobs import JobView
    from orch.core.tasks.costs import CostLine


def created(task: Task, *, with_status: bool = True) -> str:
    """The one line that answers `/task new` and `orch task new`: the project says where it will run. Without
    the status for a task first seen later (the terminal hears of a task another process created)."""
    status = f"{task.status.value}, " if with_status else ""
    return f"task {task.id} created: {task.title} ({status}project {task.project or SCRATCH})"


def _duration(attempts: Sequence[Attempt]) -> str | None:
    took = [a.finished_at - a.started_at for a in attempts if a.finished_at is not None and a.started_at]
    return f"{sum(took):.1f} s" if took else None


def _cost(cost: float | None) -> str | None:
    return f"${cost:.4f}" if cost is not None else None


def _tokens(attempts: Sequence[Attempt]) -> str | None:
    total = sum((a.tokens_in or 0) + (a.tokens_out or 0) for a in attempts)
    return f"{total:,} tokens" if total else None


def _change(task: Task) -> str | None:
    if task.diff_files is None:
        return None
    if not task.diff_files:
        return "no files changed"
    files = f"{task.diff_files} file{'s' if task.diff_files != 1 else ''}"
    return f"{files} +{task.diff_added or 0} -{task.diff_removed or 0}"


def _shipped(task: Task) -> str | None:
    if task.pr_url:
        return f"PR {task.pr_url}"
    if task.merge_commit:
        return f"merged into {task.base_branch or 'its base'} as {task.merge_commit[:12]}"
    if task.delivered == "push":
        return "pushed to origin"
    return None


def look(task: Task) -> str | None:
    """How to look at a task's branch. `git checkout BRANCH` fails while orch's worktree has it checked out, so:
    the diff command, and git run inside that worktree while it exists."""
    if not task.branch:
        return None
    inside = f", git -C {shlex.quote(task.worktree)} log" if task.worktree and os.path.isdir(task.worktree) else ""
    return f"orch task diff {task.id}{inside}"


def status_line(task: Task, attempts: Sequence[Attempt], previous: TaskStatus | None = None) -> str | None:
    """The line announced to chats following a task when its status changes; None for quiet changes.

    When a task ends it says what a person needs to judge it: agent and model, how long, what changed, the
    review, where the change went, tokens and cost.
    """
    agent = " ".join(part for part in (task.agent, task.model) if part) or None
    review = f"review {task.review_decision}" if task.review_decision else None
    details = [part for part in (agent, _duration(attempts), _change(task), review, _shipped(task),
                                 _tokens(attempts), _cost(task.cost_usd)) if part]
    paren = f" ({', '.join(details)})" if details else ""
    if task.status is TaskStatus.DONE:
        branch = f" on branch {task.branch} (look: {look(task)})" if task.branch else ""
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


def question(asked: Question) -> str:
    """What an agent asks, as the chats following its task read it."""
    if asked.kind == "approval":
        return f"task {asked.task_id} asks approval {asked.id}: {asked.text}"
    if asked.kind == "prompt":
        return f"task {asked.task_id} waits at a prompt: {asked.text}"
    options = " / ".join(f"#{n} {option}" for n, option in enumerate(asked.options, start=1))
    return f"task {asked.task_id} asks: {asked.text}" + (f" ({options})" if options else "")


TASK_COLUMNS = ("id", "status", "agent", "title")


def task_rows(tasks: Sequence[Task]) -> list[tuple[str, ...]]:
    return [(str(task.id), task.status.value, task.agent or "-", task.title) for task in tasks]


def task_table(tasks: Sequence[Task]) -> str:
    if not tasks:
        return "no tasks"
    rows = [f"{task.id:>4}  {task.status.value:<12} {(task.agent or '-'):<8} {task.title}" for task in tasks]
    return "\n".join([f"{'id':>4}  {'status':<12} {'agent':<8} title", *rows])


def diff_summary(task_id: int, branch: str, base: str, stat: DiffStat) -> str:
    """The first thing `/task diff` shows: what changed, in numbers, then git's stat."""
    files = f"{stat.files} file{'s' if stat.files != 1 else ''}"
    return f"task {task_id}: {files} changed, +{stat.added} -{stat.removed} ({branch} against {base[:12]})\n" \
        f"{stat.stat}"


def delivered(task: Task) -> str:
    if task.delivered == "pr" and task.pr_url:
        return f"task {task.id}: pull request {task.pr_url}"
    if task.delivered == "merge" and task.merge_commit:
        return f"task {task.id} merged into {task.base_branch or 'its base branch'} as {task.merge_commit[:12]}"
    if task.delivered == "push":
        return f"task {task.id} pushed {task.branch} to origin"
    return f"task {task.id}: nothing to deliver"


def cost_table(lines: Sequence[CostLine], by: str) -> str:
    rows = [(line.key, str(line.attempts), f"{line.tokens_in:,}", f"{line.tokens_out:,}", f"${line.cost_usd:.4f}")
            for line in lines]
    header = (by, "attempts", "tokens in", "tokens out", "cost")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                               for i, cell in enumerate(row)) for row in (header, *rows))


def task_details(task: Task, attempts: Sequence[Attempt], reviews: Sequence[Review] = (),
                 questions: Sequence[Question] = ()) -> str:
    lines = [
        f"task {task.id}: {task.title}",
        f"status:     {task.status.value}" + (f" ({task.review_reason})" if task.review_reason else ""),
        f"agent:      {task.agent or '-'}",
        f"model:      {task.model or '-'}",
        f"complexity: {task.complexity or '-'}",
        f"route:      {task.route_reason or '-'}",
        f"branch:     {task.branch or '-'}" + (f" (look: {look(task)})" if task.branch else ""),
        f"worktree:   {task.worktree or '-'}",
        f"attempts:   {task.attempts}",
        f"cost:       {_cost(task.cost_usd) or '-'}",
    ]
    lines += _times(task, attempts)
    if task.project:
        lines.append(f"project:    {task.project}")
    if task.parent_id:
        lines.append(f"parent:     {task.parent_id}")
    if task.labels:
        lines.append(f"labels:     {' '.join(task.labels)}")
    if task.summary:
        lines.append(f"summary:    {task.summary}")
    if _change(task):
        lines.append(f"changed:    {_change(task)} against {task.base_branch or 'its base'}")
    if _shipped(task):
        lines.append(f"delivered:  {_shipped(task)}")
    for attempt in attempts:
        took = f"{attempt.finished_at - attempt.started_at:.1f} s" if attempt.finished_at else "running"
        outcome = attempt.outcome or "running"
        error = f" — {attempt.error}" if attempt.error else ""
        lines.append(f"  attempt {attempt.number}: {attempt.agent} {outcome} ({took}){error}")
    for review in reviews:
        cost = next((_cost(a.cost_usd) for a in attempts if a.number == review.attempt and a.cost_usd), None)
        measured = ", ".join(part for part in (review.model, cost) if part)
        lines.append(f"  review {review.attempt}: {review.reviewer}" + (f" ({measured})" if measured else "")
                     + f" {review.decision}: {review.notes or '(no notes)'}")
        lines += [f"    {c.path}{':' + str(c.line) if c.line else ''}: {c.body}" for c in review.comments]
    for asked in questions:
        answer = f"{asked.answer!r} by {asked.answered_by}" if not asked.open else "open"
        lines.append(f"  {asked.kind} {asked.id}: {asked.text} — {answer}")
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


def ago(moment: float, now: float | None = None) -> str:
    """How long ago, as a person says it: `just now`, `42 s ago`, `3 min ago`, `5 h ago`, `2 days ago`."""
    seconds = max((time.time() if now is None else now) - moment, 0.0)
    for size, unit in ((86_400, " days"), (3_600, " h"), (60, " min"), (1, " s")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count}{' day' if unit == ' days' and count == 1 else unit} ago"
    return "just now"


def moment(timestamp: float, now: float | None = None) -> str:
    """An absolute local time with the relative one beside it."""
    return f"{datetime.fromtimestamp(timestamp):%Y-%m-%d %H:%M:%S} ({ago(timestamp, now)})"


def _times(task: Task, attempts: Sequence[Attempt]) -> list[str]:
    lines = [f"created:    {moment(task.created_at)}"] if task.created_at else []
    if attempts:
        lines.append(f"started:    {moment(attempts[0].started_at)}")
        finished = attempts[-1].finished_at
        if task.status.is_terminal and finished is not None:
            lines.append(f"ended:      {moment(finished)}")
    return lines


def files_changed(changes: Sequence[tuple[str, int | None, int | None]]) -> str:
    """`task show`'s list of files: +added -removed per file (`bin` for a binary file, which has no lines)."""
    cells = [("bin" if added is None else f"+{added}", "" if removed is None else f"-{removed}", path)
             for path, added, removed in changes]
    plus, minus = (max(len(cell[i]) for cell in cells) for i in (0, 1))
    return "files:\n" + "\n".join(f"  {a:>{plus}} {r:>{minus}}  {path}" for a, r, path in cells)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


def job_added(view: JobView) -> str:
    return f"job {view.job.id} added: {view.job.schedule} {view.job.title} (next run {when(view.next_run)})"


JOB_COLUMNS = ("id", "enabled", "schedule", "next run", "title")


def job_rows(views: Sequence[JobView]) -> list[tuple[str, ...]]:
    return [(str(v.job.id), "yes" if v.job.enabled else "no", v.job.schedule, when(v.next_run), v.job.title)
            for v in views]


def job_table(views: Sequence[JobView]) -> str:
    if not views:
        return "no scheduled jobs"
    width = max(len("schedule"), *(len(view.job.schedule) for view in views))
    rows = [f"{v.job.id:>4}  {'yes' if v.job.enabled else 'no':<7}  {v.job.schedule:<{width}}  "
            f"{when(v.next_run):<16}  {v.job.title}" for v in views]
    return "\n".join([f"{'id':>4}  {'enabled':<7}  {'schedule':<{width}}  {'next run':<16}  title", *rows])


def job_notes(views: Sequence[JobView]) -> list[str]:
    """Lines under the job table for jobs whose runs were skipped because their last task had not finished."""
    notes = []
    for view in views:
        if view.skipped is not None:
            skipped = view.skipped
            runs = "run" if skipped.count == 1 else "runs"
            status = "running" if skipped.status == TaskStatus.IN_PROGRESS.value else skipped.status
            notes.append(f"job {view.job.id}: skipped {skipped.count} {runs}, last {_clock(skipped.last_slot)}: "
                         f"task {skipped.task_id} still {status}")
    return notes


def _clock(timestamp: float) -> str:
    """HH:MM for a moment today, the date too for an older one (local time, like the next runs)."""
    moment = datetime.fromtimestamp(timestamp).astimezone()
    return f"{moment:%H:%M}" if moment.date() == datetime.now().astimezone().date() else when(moment)


PROJECT_COLUMNS = ("name", "kind", "branch", "path")


def project_rows(views: Sequence[ProjectView]) -> list[tuple[str, ...]]:
    return [(v.name, v.kind, v.default_branch or "-", v.path) for v in views]


def project_table(views: Sequence[ProjectView]) -> str:
    if not views:
        return "no projects; tasks run in the scratch project (`orch project add URL|PATH` or `orch init`)"
    width = max(len("name"), *(len(view.name) for view in views))
    branch_width = max(len("branch"), *(len(view.default_branch or "-") for view in views))
    rows = [f"{v.name:<{width}}  {v.kind:<8}  {v.default_branch or '-':<{branch_width}}  {v.path}" for v in views]
    return "\n".join([f"{'name':<{width}}  {'kind':<8}  {'branch':<{branch_width}}  path", *rows])


def host_table(views: Sequence[HostView]) -> str:
    """One line per host of the cluster: alive or silent, its agents, the tasks it runs, its last heartbeat."""
    if not views:
        return "no worker has started yet (run `orch worker` on a host)"
    width = max(len(view.host.name) for view in views)
    lines = []
    for view in views:
        host = view.host
        running = ", ".join(str(task) for task in host.running) or "-"
        lines.append(f"{host.name:<{width}}  {'alive ' if view.alive else 'SILENT'}  agents {', '.join(host.agents)}"
                     f"  running {running} (max {host.max_parallel})  heartbeat {view.silent_seconds:.0f} s ago")
    return "\n".join(lines)

"""/task diff|review|push|pr|merge and /cost: seeing what a task changed, having it reviewed, shipping it,
and what the agents cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from orch.bot import format as fmt
from orch.bot.chat import Attachment, Reply
from orch.bot.commands.tasks import TaskId
from orch.bot.declare import Command, CommandContext, about
from orch.core.config import DeliverMode
from orch.core.names import GROUPINGS


@dataclass(frozen=True)
class CostArgs:
    by: str = field(default="agent", metadata=about("group by", choices=GROUPINGS))


async def task_diff(ctx: CommandContext, args: TaskId) -> list[Reply]:
    diff = await ctx.services.delivery.diff(args.id)
    if not diff.patch.strip():
        return [Reply(f"task {diff.task_id} changed nothing against {diff.base[:12]}", task_id=diff.task_id)]
    summary = fmt.diff_summary(diff.task_id, diff.branch, diff.base, diff.stat)
    patch = Attachment(f"task-{diff.task_id}.diff", diff.patch.encode("utf-8"), summary.split("\n", 1)[0])
    return [Reply(summary, preformatted=True, task_id=diff.task_id, attachment=patch)]


async def task_review(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.request_review(args.id)
    await ctx.follow(task.id)
    return [Reply(f"task {task.id} will be reviewed now", task_id=task.id)]


async def _deliver(ctx: CommandContext, task_id: int, mode: DeliverMode) -> list[Reply]:
    task = await ctx.services.delivery.deliver_now(task_id, mode)
    return [Reply(fmt.delivered(task), task_id=task.id)]


async def task_push(ctx: CommandContext, args: TaskId) -> list[Reply]:
    return await _deliver(ctx, args.id, "push")


async def task_pr(ctx: CommandContext, args: TaskId) -> list[Reply]:
    return await _deliver(ctx, args.id, "pr")


async def task_merge(ctx: CommandContext, args: TaskId) -> list[Reply]:
    return await _deliver(ctx, args.id, "merge")


async def cost(ctx: CommandContext, args: CostArgs) -> list[Reply]:
    lines = await ctx.services.costs.summary(by=args.by)
    return [Reply(fmt.cost_table(lines, args.by), preformatted=True)]


# Not annotated, so that mypy checks each handler against its own arguments (see tasks.py).
CHANGE_COMMANDS = (
    Command(("task", "diff"), "what a task changed against its base: stat, and the patch", TaskId, task_diff),
    Command(("task", "review"), "have a finished task's change reviewed by another agent", TaskId, task_review),
    Command(("task", "push"), "push a finished task's branch to origin", TaskId, task_push),
    Command(("task", "pr"), "push and open a pull request on GitHub", TaskId, task_pr),
    Command(("task", "merge"), "merge a finished task's branch into the branch it started from", TaskId,
            task_merge),
)
COST_COMMANDS = (
    Command(("cost",), "tokens and USD spent, by agent, model, project or day", CostArgs, cost),
)

"""/jobs and /status: what orch has scheduled and what it is doing."""

from __future__ import annotations

from orch.bot import format as fmt
from orch.bot.chat import Reply
from orch.bot.declare import Command, CommandContext, NoArgs


async def jobs(ctx: CommandContext, args: NoArgs) -> list[Reply]:
    views = await ctx.services.jobs.views()
    return [Reply("\n".join([fmt.job_table(views), *fmt.job_notes(views)]), preformatted=bool(views))]


async def status(ctx: CommandContext, args: NoArgs) -> list[Reply]:
    tasks = await ctx.services.tasks.list_tasks()
    return [Reply(fmt.status_summary(tasks, ctx.engine_status()), preformatted=True)]


STATUS_COMMANDS = (
    Command(("jobs",), "scheduled jobs: id, schedule, enabled, next run, title", NoArgs, jobs),
    Command(("status",), "what orch is doing", NoArgs, status),
)

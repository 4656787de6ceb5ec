"""/jobs, /status and /hosts: what orch has scheduled, what it is doing, and where."""

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


async def hosts(ctx: CommandContext, args: NoArgs) -> list[Reply]:
    service = ctx.services.hosts
    if service is None:
        return [Reply("one host: orch serve runs every agent (the store is SQLite)")]
    return [Reply(fmt.host_table(await service.hosts()), preformatted=True)]


STATUS_COMMANDS = (
    Command(("jobs",), "scheduled jobs: id, schedule, enabled, next run, title", NoArgs, jobs),
    Command(("status",), "what orch is doing", NoArgs, status),
    Command(("hosts",), "the cluster's workers: agents, running tasks, last heartbeat", NoArgs, hosts),
)

"""/task new|list|show|route|unblock|retry|cancel: creating tasks and moving them along."""

from __future__ import annotations

from dataclasses import dataclass, field

from orch.bot import format as fmt
from orch.bot.chat import Reply
from orch.bot.declare import Command, CommandContext, about
from orch.core.names import AGENT_NAMES, COMPLEXITIES
from orch.core.tasks.models import Origin, TaskStatus

_STATUSES = tuple(status.value for status in TaskStatus)


@dataclass(frozen=True)
class TaskId:
    """The arguments of a command about one task."""

    id: int = field(metadata=about("task id"))


@dataclass(frozen=True)
class NewTaskArgs:
    title: str = field(metadata=about("what to do", greedy=True))
    body: str = field(default="", metadata=about("details for the agent (or put them on further lines)",
                                                 option=True, later_lines=True))
    agent: str | None = field(default=None, metadata=about("which agent runs it", choices=AGENT_NAMES, option=True))
    complexity: str | None = field(default=None, metadata=about("model tier", choices=COMPLEXITIES, option=True))
    project: str | None = field(default=None, metadata=about("project name", option=True))
    parent: int | None = field(default=None, metadata=about("parent task id", option=True))
    label: tuple[str, ...] = field(default=(), metadata=about("a label (repeatable)", option=True))


@dataclass(frozen=True)
class ListArgs:
    status: str | None = field(default=None, metadata=about("only tasks with this status", choices=_STATUSES))


@dataclass(frozen=True)
class UnblockArgs:
    id: str = field(metadata=about("task id, or all"))


async def task_new(ctx: CommandContext, args: NewTaskArgs) -> list[Reply]:
    task = await ctx.services.tasks.create(
        args.title, args.body, labels=args.label, agent=args.agent, complexity=args.complexity,
        project=args.project, parent_id=args.parent,
    )
    chat = ctx.chat
    await ctx.services.tasks.set_origin(Origin(task.id, chat.transport, chat.chat_id, chat.user_id, chat.message_id))
    await ctx.follow(task.id)
    return [Reply(fmt.created(task), task_id=task.id)]


async def task_list(ctx: CommandContext, args: ListArgs) -> list[Reply]:
    tasks = await ctx.services.tasks.list_tasks(args.status)
    return [Reply(fmt.task_table(tasks), preformatted=bool(tasks))]


async def task_show(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.get(args.id)
    attempts = await ctx.services.tasks.attempts(task.id)
    reviews = await ctx.services.tasks.reviews(task.id)
    questions = await ctx.services.tasks.questions(task.id)
    return [Reply(fmt.task_details(task, attempts, reviews, questions), preformatted=True, task_id=task.id)]


async def task_route(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task_id, decision = await ctx.services.routing.reroute(args.id)
    return [Reply(fmt.route_decision(task_id, decision), task_id=task_id)]


async def task_unblock(ctx: CommandContext, args: UnblockArgs) -> list[Reply]:
    tasks = await ctx.services.tasks.unblock(args.id)
    return [Reply(fmt.unblocked(tasks))]


async def task_retry(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.retry(args.id)
    await ctx.follow(task.id)
    return [Reply(f"task {task.id} will run again ({task.status.value})", task_id=task.id)]


async def task_cancel(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.cancel(args.id)
    return [Reply(f"task {task.id} cancelled", task_id=task.id)]


# Not annotated: mypy infers each Command[Args] from its own arguments and checks the handler against it, which
# an annotation such as tuple[Command[Any], ...] would switch off.
TASK_COMMANDS = (
    Command(("task", "new"), "create a task: options on the first line; further lines are the body, as typed",
            NewTaskArgs,
            task_new),
    Command(("task", "list"), "list tasks, optionally with one status", ListArgs, task_list),
    Command(("task", "show"), "a task's status, agent, model, branch, attempts, cost", TaskId, task_show),
    Command(("task", "route"), "route a task (again) without running it", TaskId, task_route),
    Command(("task", "unblock"), "blocked/needs_review -> new (attempts reset)", UnblockArgs, task_unblock),
    Command(("task", "retry"), "run a finished task again", TaskId, task_retry),
    Command(("task", "cancel"), "stop a task", TaskId, task_cancel),
)

"""Every chat command, declared once: name, help, typed parameters, handler.

Telegram registers these with setMyCommands, Discord builds slash commands with typed options from them, the
stdout transport parses typed lines with bot.parse. A handler raises UserError for bad input; its message is
the reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from orch.bot import format as fmt
from orch.bot.chat import ChatRef, Reply
from orch.core.names import AGENT_NAMES, COMPLEXITIES
from orch.core.tasks.models import TaskStatus

if TYPE_CHECKING:
    from orch.bot.app import BotApp


@dataclass(frozen=True)
class Param:
    name: str
    help: str
    kind: Literal["str", "int"] = "str"
    required: bool = True
    choices: tuple[str, ...] = ()
    greedy: bool = False  # the last positional one: keeps the rest of the line exactly as typed
    option: bool = False  # given as name:value anywhere on the line
    repeated: bool = False


@dataclass(frozen=True)
class CommandContext:
    app: BotApp
    chat: ChatRef


Handler = Callable[[CommandContext, dict[str, Any]], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    help: str
    handler: Handler
    params: tuple[Param, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for param in self.params:
            if param.option:
                parts.append(f"[{param.name}:…]")
            else:
                parts.append(param.name.upper() if param.required else f"[{param.name.upper()}]")
        return " ".join(parts)


def _one(text: str, task_id: int | None = None) -> list[Reply]:
    return [Reply(text, task_id=task_id)]


async def task_new(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.create(
        args["title"], args.get("body", ""), labels=args.get("label", []), agent=args.get("agent"),
        complexity=args.get("complexity"), project=args.get("project"), parent_id=args.get("parent"),
    )
    await ctx.app.follow(ctx.chat, task.id)
    return _one(fmt.created(task), task.id)


async def task_list(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    tasks = await ctx.app.services.tasks.list_tasks(args.get("status"))
    return [Reply(fmt.task_table(tasks), preformatted=bool(tasks))]


async def task_show(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.get(args["id"])
    attempts = await ctx.app.services.tasks.attempts(task.id)
    return [Reply(fmt.task_details(task, attempts), preformatted=True, task_id=task.id)]


async def task_route(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task_id, decision = await ctx.app.services.routing.reroute(args["id"])
    return _one(fmt.route_decision(task_id, decision), task_id)


async def task_unblock(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    tasks = await ctx.app.services.tasks.unblock(args["id"])
    return _one(fmt.unblocked(tasks))


async def task_retry(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.retry(args["id"])
    await ctx.app.follow(ctx.chat, task.id)
    return _one(f"task {task.id} will run again ({task.status.value})", task.id)


async def task_cancel(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.cancel(args["id"])
    return _one(f"task {task.id} cancelled", task.id)


async def stream(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.get(args["id"])
    await ctx.app.follow(ctx.chat, task.id, from_start=True)
    return _one(f"following task {task.id} ({task.status.value})", task.id)


async def unstream(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task = await ctx.app.services.tasks.get(args["id"])
    stopped = await ctx.app.unfollow(ctx.chat, task.id)
    return _one(f"stopped following task {task.id}" if stopped else f"this chat was not following task {task.id}")


async def say(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    task_id = await ctx.app.services.control.say(args["id"], args["text"])
    return _one(f"sent to task {task_id}", task_id)


async def jobs(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    views = await ctx.app.services.jobs.views()
    return [Reply(fmt.job_table(views), preformatted=bool(views))]


async def status(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    tasks = await ctx.app.services.tasks.list_tasks()
    return [Reply(fmt.status_summary(tasks, ctx.app.engine.status_lines()), preformatted=True)]


async def help_(ctx: CommandContext, args: dict[str, Any]) -> list[Reply]:
    return [Reply("\n".join(f"{c.usage} — {c.help}" for c in COMMANDS), preformatted=True)]


_ID = Param("id", "task id", kind="int")
_STATUSES = tuple(status.value for status in TaskStatus)

COMMANDS: tuple[Command, ...] = (
    Command(("task", "new"), "create a task; first line is the title, further lines the body", task_new, (
        Param("title", "what to do", greedy=True),
        Param("body", "details for the agent (or put them on further lines)", required=False, option=True),
        Param("agent", "which agent runs it", required=False, choices=AGENT_NAMES, option=True),
        Param("complexity", "model tier", required=False, choices=COMPLEXITIES, option=True),
        Param("project", "project name", required=False, option=True),
        Param("parent", "parent task id", kind="int", required=False, option=True),
        Param("label", "a label (repeatable)", required=False, option=True, repeated=True),
    )),
    Command(("task", "list"), "list tasks, optionally with one status", task_list, (
        Param("status", "only tasks with this status", required=False, choices=_STATUSES),
    )),
    Command(("task", "show"), "a task's status, agent, model, branch, attempts, cost", task_show, (_ID,)),
    Command(("task", "route"), "route a task (again) without running it", task_route, (_ID,)),
    Command(("task", "unblock"), "blocked/needs_review -> new (attempts reset)", task_unblock, (
        Param("id", "task id, or all"),
    )),
    Command(("task", "retry"), "run a finished task again", task_retry, (_ID,)),
    Command(("task", "cancel"), "stop a task", task_cancel, (_ID,)),
    Command(("stream",), "follow a task's live output in this chat", stream, (_ID,)),
    Command(("unstream",), "stop following a task", unstream, (_ID,)),
    Command(("say",), "type text into the running agent", say, (_ID, Param("text", "what to type", greedy=True))),
    Command(("jobs",), "scheduled jobs: id, schedule, enabled, next run, title", jobs),
    Command(("status",), "what orch is doing", status),
    Command(("help",), "this list", help_),
)


def top_level_commands() -> list[tuple[str, str]]:
    """(name, description) of each first word, for menus such as Telegram's setMyCommands."""
    seen: dict[str, str] = {}
    for command in COMMANDS:
        head = command.path[0]
        if head not in seen:
            subs = [c.path[1] for c in COMMANDS if c.path[0] == head and len(c.path) > 1]
            seen[head] = f"{'|'.join(subs)} — tasks" if subs else command.help
    return list(seen.items())

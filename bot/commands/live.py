"""/stream, /unstream, /say: a task's live side — its output in this chat, and typing into its agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from orch.bot.chat import Reply
from orch.bot.commands.tasks import TaskId
from orch.bot.declare import Command, CommandContext, about


@dataclass(frozen=True)
class SayArgs:
    id: int = field(metadata=about("task id"))
    text: str = field(metadata=about("what to type", greedy=True))


async def stream(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.get(args.id)
    await ctx.follow(task.id, from_start=True)
    return [Reply(f"following task {task.id} ({task.status.value})", task_id=task.id)]


async def unstream(ctx: CommandContext, args: TaskId) -> list[Reply]:
    task = await ctx.services.tasks.get(args.id)
    stopped = await ctx.unfollow(task.id)
    text = f"stopped following task {task.id}" if stopped else f"this chat was not following task {task.id}"
    return [Reply(text, task_id=task.id)]


async def say(ctx: CommandContext, args: SayArgs) -> list[Reply]:
    task_id = await ctx.services.control.say(args.id, args.text)
    return [Reply(f"sent to task {task_id}", task_id=task_id)]


# Not annotated, so that mypy checks each handler against its own arguments (see tasks.py).
LIVE_COMMANDS = (
    Command(("stream",), "follow a task's live output in this chat", TaskId, stream),
    Command(("unstream",), "stop following a task", TaskId, unstream),
    Command(("say",), "type text into the running agent", SayArgs, say),
)

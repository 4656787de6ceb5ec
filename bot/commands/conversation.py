"""/task reply, /answer, /approve, /notify: talking with a task's agent, and what a chat is told."""

from __future__ import annotations

from dataclasses import dataclass, field

from orch.bot.chat import ChatRef, Reply
from orch.bot.declare import Command, CommandContext, about
from orch.core.tasks.conversation import APPROVAL_CHOICES
from orch.core.tasks.follows import NOTIFY_LEVELS
from orch.core.tasks.models import TaskStatus

NOW = "--now"


@dataclass(frozen=True)
class ReplyArgs:
    id: int = field(metadata=about("task id"))
    text: str = field(metadata=about("the follow-up; start it with --now to stop the agent's turn", greedy=True))


@dataclass(frozen=True)
class AnswerArgs:
    id: int = field(metadata=about("task id"))
    text: str = field(metadata=about("the answer, or #N for the N-th option", greedy=True))


@dataclass(frozen=True)
class ApproveArgs:
    id: int = field(metadata=about("approval id (shown with the request)", id_of="approval"))
    decision: str = field(metadata=about("allow, always (for this task) or deny", choices=tuple(APPROVAL_CHOICES)))


@dataclass(frozen=True)
class NotifyArgs:
    level: str = field(metadata=about("all, errors (when a task needs a person) or none", choices=NOTIFY_LEVELS))


def who(chat: ChatRef) -> str:
    """A person as the store records them: where they wrote from."""
    return f"{chat.transport}:{chat.user_id or chat.chat_id}"


async def task_reply(ctx: CommandContext, args: ReplyArgs) -> list[Reply]:
    text, now = args.text.strip(), False
    if text == NOW or text.startswith(NOW + " "):
        text, now = text[len(NOW):].strip(), True
    queued = await ctx.services.conversation.reply(args.id, text, now=now, source=who(ctx.chat))
    await ctx.follow(args.id)
    task = queued.task
    if task.status is TaskStatus.ROUTED:
        return [Reply(f"task {task.id} runs again with your follow-up", task_id=task.id)]
    if now:
        return [Reply(f"task {task.id}: its agent's turn is being stopped for your follow-up", task_id=task.id)]
    return [Reply(f"follow-up queued for task {task.id} ({queued.ahead} ahead)", task_id=task.id)]


async def answer(ctx: CommandContext, args: AnswerArgs) -> list[Reply]:
    answered = await ctx.services.conversation.answer(args.id, args.text, who(ctx.chat))
    await ctx.follow(answered.task_id)
    return [Reply(f"task {answered.task_id}: answered {answered.answer!r}", task_id=answered.task_id)]


async def approve(ctx: CommandContext, args: ApproveArgs) -> list[Reply]:
    decided = await ctx.services.conversation.decide(args.id, args.decision, who(ctx.chat))
    verdict = APPROVAL_CHOICES[decided.answer or "deny"]
    return [Reply(f"task {decided.task_id}: {verdict} — {decided.text}", task_id=decided.task_id)]


async def notify(ctx: CommandContext, args: NotifyArgs) -> list[Reply]:
    await ctx.services.follows.set_notify_level(ctx.chat.transport, ctx.chat.chat_id, args.level)
    told = {"all": "every status change", "errors": "only when a task needs a person", "none": "no status changes"}
    return [Reply(f"this chat is told {told[args.level]} of the tasks it follows")]


# Not annotated, so that mypy checks each handler against its own arguments (see tasks.py).
CONVERSATION_COMMANDS = (
    Command(("task", "reply"), "a follow-up for the agent: its next turn (--now stops the current one)", ReplyArgs,
            task_reply),
)
ANSWER_COMMANDS = (
    Command(("answer",), "answer what a task's agent asked", AnswerArgs, answer),
    Command(("approve",), "allow or deny a tool call an agent asks for", ApproveArgs, approve),
    Command(("notify",), "what this chat is told of its tasks: all, errors or none", NotifyArgs, notify),
)

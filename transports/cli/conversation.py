"""`orch task reply|answer|approve|clean`: talking with a task's agent from the terminal, and clearing away the
worktrees of ended tasks."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Awaitable, Callable
from functools import partial

from orch.core.services import Services
from orch.core.tasks.conversation import APPROVAL_CHOICES
from orch.transports.cli.output import show
from orch.transports.cli.runner import with_services


def _who() -> str:
    return f"cli:{getpass.getuser()}"


async def _reply(args: argparse.Namespace, services: Services) -> int:
    queued = await services.conversation.reply(args.id, args.text, now=args.now, source=_who())
    if queued.task.status.value == "routed":
        show(f"task {queued.task.id} runs again with your follow-up")
    elif args.now:
        show(f"task {queued.task.id}: its agent's turn is being stopped for your follow-up")
    else:
        show(f"follow-up queued for task {queued.task.id} ({queued.ahead} ahead)")
    return 0


async def _answer(args: argparse.Namespace, services: Services) -> int:
    answered = await services.conversation.answer(args.id, args.text, _who())
    show(f"task {answered.task_id}: answered {answered.answer!r}")
    return 0


async def _approve(args: argparse.Namespace, services: Services) -> int:
    decided = await services.conversation.decide(args.id, args.decision, _who())
    show(f"task {decided.task_id}: {APPROVAL_CHOICES[decided.answer or 'deny']} — {decided.text}")
    return 0


async def _clean(args: argparse.Namespace, services: Services) -> int:
    cleaned = await services.cleanup.clean(args.older)
    for task_id, path in cleaned.removed:
        show(f"removed the worktree of task {task_id}: {path} (its branch stays)")
    for kept in cleaned.kept:
        show(f"kept the worktree of task {kept.task_id}: {kept.path}: {kept.why}")
    if not cleaned.removed and not cleaned.kept:
        show("no worktrees of ended tasks to remove")
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, Services], Awaitable[int]]] = {
    "reply": _reply, "answer": _answer, "approve": _approve, "clean": _clean,
}


def run(args: argparse.Namespace) -> int:
    return with_services(partial(ACTIONS[args.action], args))
